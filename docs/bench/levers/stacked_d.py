"""D's update with its frames stacked in one call (avgkit since 2026-12-02) against one D call
per batch (the step before, commit 8427197), same process, 3 alternating timings of each.

Usage: .venv/bin/python docs/bench/levers/stacked_d.py CLIPS_DIR PRESET... (CLIPS_DIR: e.g. the
train_clips folder `avgkit bench` makes)."""

import sys
from pathlib import Path

import tensorflow as tf

from avgkit import config as config_lib
from avgkit import losses
from avgkit.bench import train as bt
from avgkit.train import Trainer


class OneCallPerBatch(Trainer):
    def _d_gradients(self, pairs, scale):
        with tf.GradientTape() as tape:
            per_scale = 0.0
            for history, reals, fakes in pairs:
                real_logits = self.discriminator(history, reals)
                fake_logits = self.discriminator(history, fakes)
                per_scale += losses.combined_discriminator_loss(real_logits, fake_logits)[1]
            loss = tf.reduce_sum(per_scale)
            scaled = self.d_optimizer.scale_loss(loss * scale)
        return loss, per_scale, tape.gradient(scaled, self.discriminator.trainable_variables)


clips = Path(sys.argv[1])
sizes = bt.Sizes(rounds=5, round_seconds=3.0, budget=20.0)
for name in sys.argv[2:]:
    c = config_lib.preset(name)
    batches = bt._batches(clips, c)
    trainers = {"stacked": Trainer(c), "one_call_each": OneCallPerBatch(c)}
    got = {k: [] for k in trainers}
    for _ in range(3):
        for k, t in trainers.items():
            got[k].append(bt.time_steps(t, batches, sizes)["seconds_per_step"])
    s, o = min(got["stacked"]), min(got["one_call_each"])
    print(
        name,
        {k: [round(x, 4) for x in v] for k, v in got.items()},
        f"speedup {o / s:.3f}",
        flush=True,
    )
