"""Median seconds of the official preset's float32 D+G step (tf.function), on real clips.

Runs the `avgkit` it imports: alternate two checkouts with PYTHONPATH, e.g.
    PYTHONPATH=/tmp/before python ab_step.py before; python ab_step.py after
argv[1] labels the line; argv[2] (default runs/bench-after/train_clips) is a clips folder.
"""

import statistics
import sys
import time
from pathlib import Path

from avgkit import config
from avgkit.train import ShardBatches, Trainer

c = config.preset("official")
clips = sys.argv[2] if len(sys.argv) > 2 else "runs/bench-after/train_clips"
b = ShardBatches(Path(clips), c)
batches = [b.batch(s) for s in range(8)]
b.close()
t = Trainer(c)
for i in range(3):
    t.train_step(*batches[i % 8])
rounds = []
for _r in range(7):
    s = time.perf_counter()
    for i in range(25):
        t.train_step(*batches[i % 8])
    rounds.append((time.perf_counter() - s) / 25)
print(sys.argv[1], f"median {statistics.median(rounds):.4f} min {min(rounds):.4f}")
