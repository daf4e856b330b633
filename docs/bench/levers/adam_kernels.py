"""Kernels a small D+G step runs, and their time, with Keras' Adam for both nets and with SGD
(TensorFlow's profiler, avgkit.bench.profile; random uint8 clips).

Usage: .venv/bin/python docs/bench/levers/adam_kernels.py"""

import dataclasses

import numpy as np

from avgkit import config as config_lib
from avgkit.bench import profile
from avgkit.train import Trainer

c = config_lib.preset("small")
rng = np.random.default_rng(0)
clip = rng.integers(0, 256, (8, 32, 32, 15), dtype=np.uint8)
for opt in ("adam", "sgd"):
    t = Trainer(dataclasses.replace(c, g_optimizer=opt, d_optimizer=opt))
    t.train_step(clip, clip)
    t.train_step(clip, clip)
    p = profile.profile_step(t.train_step, (clip, clip))
    print(
        opt,
        p["kernels"],
        round(p["op_seconds"] * 1e3, 2),
        "ms kernel time",
        round(p["wall_seconds"] * 1e3, 2),
        "ms wall (profiler on)",
    )
