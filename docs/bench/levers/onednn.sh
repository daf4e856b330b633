#!/bin/bash
# oneDNN off and on, the same train and rollout timings, one after the other
cd "$(dirname "$0")/../../.."
for v in 0 1; do
  echo "=== TF_ENABLE_ONEDNN_OPTS=$v $(date)"
  TF_ENABLE_ONEDNN_OPTS=$v .venv/bin/python -c "
from avgkit import bench
bench.run(out='runs/onednn-$v', sections=('train', 'rollout'), presets=('small', 'official'),
          sizes=bench.Sizes(executions=('function',), loss_steps=20, loss_window=5))
"
done
echo "=== done $(date)"
