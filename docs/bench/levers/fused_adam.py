"""Keras' Adam against an Adam that runs one fused ResourceApplyAdam kernel a variable (the same
formula), same process: G's and D's losses over 3 steps, then 3 alternating timings of each.
"official" here is the study's recipe's optimizer, G by Adam at 1e-4.

Usage: .venv/bin/python docs/bench/levers/fused_adam.py CLIPS_DIR PRESET..."""

import dataclasses
import sys
from pathlib import Path

import keras
import tensorflow as tf

from avgkit import config as config_lib
from avgkit.bench import train as bt
from avgkit.train import Trainer
from avgkit.train import trainer as trainer_lib


class FusedAdam(keras.optimizers.Adam):
    def update_step(self, gradient, variable, learning_rate):
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        step = tf.cast(self.iterations + 1, variable.dtype)
        b1, b2 = tf.cast(self.beta_1, variable.dtype), tf.cast(self.beta_2, variable.dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=m.value.handle,
            v=v.value.handle,
            beta1_power=b1**step,
            beta2_power=b2**step,
            lr=tf.cast(learning_rate, variable.dtype),
            beta1=b1,
            beta2=b2,
            epsilon=tf.cast(self.epsilon, variable.dtype),
            grad=tf.cast(gradient, variable.dtype),
        )


def fused(kind, rate, loss_scale):
    return {"adam": FusedAdam, "sgd": keras.optimizers.SGD}[kind](rate)


clips = Path(sys.argv[1])
sizes = bt.Sizes(rounds=5, round_seconds=3.0, budget=20.0)
original = trainer_lib._optimizer
for name in sys.argv[2:]:
    c = config_lib.preset(name)
    if name == "official":  # the study's recipe: G by Adam
        c = dataclasses.replace(c, g_optimizer="adam", g_learning_rate=1e-4)
    batches = bt._batches(clips, c)
    keras_adam = Trainer(c)
    trainer_lib._optimizer = fused
    fused_adam = Trainer(c)
    trainer_lib._optimizer = original
    # same losses over a few steps
    for b in batches[:3]:
        a, f = keras_adam.train_step(*b), fused_adam.train_step(*b)
        print(name, "g_loss", a["g_loss"], f["g_loss"], "d_loss", a.get("d_loss"), f.get("d_loss"))
    got = {"keras": [], "fused": []}
    for _ in range(3):
        got["keras"].append(bt.time_steps(keras_adam, batches, sizes)["seconds_per_step"])
        got["fused"].append(bt.time_steps(fused_adam, batches, sizes)["seconds_per_step"])
    print(
        name,
        {k: [round(x, 4) for x in v] for k, v in got.items()},
        f"speedup {min(got['keras']) / min(got['fused']):.3f}",
        flush=True,
    )
