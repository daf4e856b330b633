"""Training on two devices gives the losses of one device for the same global batch.

TensorFlow fixes its devices when it starts, so the two logical CPUs are set up in a fresh
process, before any operation runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from avgkit.data import clips as clips_lib
from conftest import write_video

SCRIPT = """
import json, sys
import tensorflow as tf

tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})  # starts faster
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from avgkit import config, train
from avgkit.train import distribute

clips_dir, runs = sys.argv[1], sys.argv[2]
chosen = distribute.choose_strategy()  # what `avgkit train` would pick here
result = {"chosen": distribute.describe(chosen)}
for name, strategy in (("one", tf.distribute.OneDeviceStrategy("/cpu:0")), ("two", chosen)):
    history = train.train(config.preset("tiny"), clips_dir, f"{runs}/{name}", 6, strategy=strategy,
                          progress=False)
    result[name] = history.values
try:  # XLA cannot compile one step over variables on two devices: refused with one line
    train.Trainer(config.preset("tiny"), strategy=chosen, jit_compile=True)
except Exception as error:
    result["jit"] = f"{type(error).__name__}: {error}"
print(json.dumps(result))
"""


def test_two_devices_match_one_device(tmp_path):
    write_video(tmp_path / "Train" / "a", 20)
    clips_lib.process(tmp_path / "Train", tmp_path / "clips", 200, progress=False)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "clips"), str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["chosen"] == "MirroredStrategy, 2 replicas: CPU:0, CPU:1"
    assert result["jit"].startswith("ConfigError: --jit_compile: XLA compiles the step on one")
    for name in ("g_loss", "d_loss", "psnr", "sharp_diff"):
        np.testing.assert_allclose(result["two"][name], result["one"][name], rtol=1e-5, atol=1e-5)
