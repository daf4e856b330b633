"""tools/score_fresh.py follows a run along its training: a checkpoint prefix, also one copied
out of its run with the run's config.json, names a generator as a kept run does."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np

from avgkit import config, evaluate
from avgkit import train as train_lib
from avgkit.data import clips as clips_lib
from conftest import write_video

sys.path.insert(0, str(Path(__file__).parents[1] / "tools"))
from score_fresh import generator_of  # noqa: E402

QUIET = train_lib.Frequencies(stats=1000, summary=1000, images=1000, test=1000, save=1)


def test_a_checkpoint_copied_with_its_config_loads_that_steps_generator(tmp_path):
    write_video(tmp_path / "Train" / "a", 20, seed=1)
    clips_lib.process(tmp_path / "Train", tmp_path / "clips", 64, workers=1, progress=False)
    run = tmp_path / "run"
    train_lib.train(config.preset("tiny"), tmp_path / "clips", run, 2, adversarial=False,
                    frequencies=QUIET, progress=False)  # fmt: skip
    kept = tmp_path / "kept"  # as runs/keep_ckpts.sh keeps them: the files and config.json
    kept.mkdir()
    for path in [*(run / "checkpoints").glob("ckpt-1.*"), run / "config.json"]:
        shutil.copy(path, kept)
    kept_1 = generator_of(str(kept / "ckpt-1")).get_weights()
    step_1 = generator_of(str(run / "checkpoints" / "ckpt-1")).get_weights()
    step_2 = generator_of(str(run / "checkpoints" / "ckpt-2")).get_weights()
    latest = evaluate.load_generator(run).get_weights()  # the run's newest: step 2
    assert all(np.array_equal(a, b) for a, b in zip(kept_1, step_1))
    assert all(np.array_equal(a, b) for a, b in zip(step_2, latest))
    assert not all(np.array_equal(a, b) for a, b in zip(step_1, step_2))  # a step apart
