"""Notebook 04's two-futures toy: milliseconds a `tiny` step (l2 and adv + GDL, after 20 warm
steps), and which future each loss's 64 test predictions are nearest to after some step counts.

    python docs/bench/levers/toy_step.py [--jit] [STEPS ...]   # from the repository root, idle
    TF_ENABLE_ONEDNN_OPTS=0 python docs/bench/levers/toy_step.py     # oneDNN off
    TF_NUM_INTRAOP_THREADS=1 python docs/bench/levers/toy_step.py    # one intra-op thread
"""

import dataclasses
import sys
import time
from collections import Counter

import numpy as np

from avgkit import config, toys, train
from avgkit.data import pipeline

jit = "--jit" in sys.argv
counts_at = sorted(int(a) for a in sys.argv[1:] if a != "--jit")
toy_cfg = dataclasses.replace(config.preset("tiny"), g_learning_rate=1e-3, d_learning_rate=1e-3)
test_clips, test_up, test_down = toys.two_futures(64, np.random.default_rng(1))
test_history = pipeline.split_clip(pipeline.to_unit(test_clips), toy_cfg.hist_len)[0]
for loss in ("l2", "l1", "l1_gdl", "adv_gdl"):
    adversarial = config.LOSSES[loss].adversarial
    trainer = train.Trainer(
        config.with_loss(toy_cfg, loss), adversarial=adversarial, seed=0, jit_compile=jit
    )
    rng = np.random.default_rng(0)  # the notebook's stream of clips
    started = time.perf_counter()
    for step in range(1, max([200, *counts_at]) + 1):
        if step == 21:
            warm = time.perf_counter()
        trainer.train_step(toys.two_futures(8, rng)[0], toys.two_futures(8, rng)[0])
        if step == 200 and loss in ("l2", "adv_gdl"):
            per_step = (time.perf_counter() - warm) / 180 * 1000
            print(f"{loss}: first 20 steps {warm - started:.2f} s, then {per_step:.1f} ms a step")
        if step in counts_at:
            nearest = toys.nearest_future(trainer.predict(test_history)[-1], test_up, test_down)
            print(f"{loss} at {step} steps: {dict(Counter(nearest.tolist()))}", flush=True)
