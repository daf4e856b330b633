"""`avgkit train`: the TF1 flags, the run folder it fills, a clear line for bad input, and a
training process killed with SIGKILL that resumes from a loadable checkpoint."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import sys
import time

import imageio.v3 as iio
import numpy as np
import pytest
import tensorflow as tf

from avgkit import cli, config
from avgkit import train as train_lib
from avgkit.data import clips as clips_lib
from conftest import write_video

TINY = ["--preset", "tiny"]
TINY_G = config.preset("tiny").g_feature_maps


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """ROOT/{Train,Test} frame folders and ROOT/clips, 200 clips cut from Train."""
    root = tmp_path_factory.mktemp("cli_data")
    write_video(root / "Train" / "a", 20, seed=1)
    write_video(root / "Train" / "b", 20, seed=2)
    write_video(root / "Test" / "c", 8, seed=3)
    clips_lib.process(root / "Train", root / "clips", 200, progress=False)
    return root


def train(*args):
    return cli.main(["train", *map(str, args)])


def one_line_error(capsys, code, *fragments):
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("avgkit train: error: "), lines
    for fragment in fragments:
        assert fragment in lines[0]


def test_tf1_flags_and_defaults():
    args = cli._parser().parse_args(
        ["train", "-l", "L", "-t", "T", "-r", "3", "-a", "f", "-n", "N", "-O", "-T", "-c", "C"]
    )
    assert (args.load_path, args.test_dir, args.recursions, args.adversarial) == (
        "L",
        "T",
        3,
        False,
    )
    assert (args.name, args.overwrite, args.test_only, args.clips_dir) == ("N", True, True, "C")
    defaults = cli._parser().parse_args(["train"])
    assert defaults.adversarial and (defaults.name, defaults.recursions) == ("default", 1)
    frequencies = [
        defaults.stats_freq,
        defaults.summary_freq,
        defaults.img_save_freq,
        defaults.test_freq,
        defaults.model_save_freq,
    ]
    assert frequencies == [10, 100, 1000, 5000, 10000]  # the TF1 defaults
    hyphens = cli._parser().parse_args(["train", "--model-save-freq", "7", "--runs-dir", "R"])
    assert (hyphens.model_save_freq, hyphens.runs_dir) == (7, "R")


def test_train_then_test_only_then_overwrite(data, tmp_path, capsys):
    run = tmp_path / "e2e"
    every = ["--stats_freq", 2, "--summary_freq", 3, "--img_save_freq", 3, "--test_freq", 6]
    code = train("-c", data / "clips", "-n", "e2e", "--runs_dir", tmp_path, *TINY, "--steps", 6,
                 "-r", 2, "--model_save_freq", 4, *every)  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "device: OneDeviceStrategy, CPU:0" in out and "step 6: G " in out
    assert config.load(run / "config.json") == config.preset("tiny")
    assert sorted(p.name for p in (run / "checkpoints").glob("*.index")) == [
        "ckpt-4.index",
        "ckpt-6.index",
    ]
    assert [row["step"] for row in train_lib.read_log(run / "results" / "train_log.csv")] == [
        2,
        4,
        6,
    ]
    tags = set()
    for path in (run / "summaries").glob("events.out.tfevents.*"):
        for record in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            tags.update(value.tag for value in event.summary.value)
    for tag in ("generator/loss", "generator/adv/scale3", "discriminator/scale0", "train/psnr"):
        assert tag in tags
    assert {"train/sharp_diff", "fixed_batch", "test/psnr/recursion2"} <= tags
    grid = iio.imread(run / "images" / "train" / "step_00000003.png")
    assert grid.shape == (4 * 32, 3 * 32, 3)  # the fixed batch: last input | prediction | truth
    # the test ran on Test/ beside the clips' Train/: 4 inputs + 2 predictions, full frames
    gif = iio.imread(run / "images" / "test" / "step_00000006" / "c.gif", index=None)
    assert gif.shape[:3] == (6, 48, 2 * 64)
    results = json.loads((run / "results" / "test_step_00000006.json").read_text())
    assert len(results["psnr"]) == 2 and results["sequences"] == ["c"]

    code = train("-T", "-n", "e2e", "--runs_dir", tmp_path, "-r", 3, "-c", data / "clips")
    assert code == 0  # the preset comes from the run
    assert (run / "images" / "test" / "step_00000006" / "c" / "pred_3.png").exists()
    # a config of the same preset name but another G: the checkpoint's own config.json wins
    wider = dataclasses.replace(
        config.preset("tiny"),
        g_feature_maps=tuple(tuple(2 * n for n in maps) for maps in TINY_G),
    )
    train_lib.test(run, data / "Test", recursions=1, config=wider, progress=False)
    assert (run / "images" / "test" / "step_00000006" / "c" / "pred_1.png").exists()

    code = train("-c", data / "clips", "-n", "e2e", "--runs_dir", tmp_path, "-O", "-a", "f",
                 "--steps", 2, "-t", data / "Test")  # fmt: skip
    assert code == 0 and "non-adversarial" in capsys.readouterr().out
    assert sorted(p.name for p in (run / "checkpoints").glob("*.index")) == ["ckpt-2.index"]


def test_bad_input_gives_one_line(data, tmp_path, capsys):
    common = ["--runs_dir", tmp_path, *TINY, "--steps", 3]
    one_line_error(capsys, train("-c", tmp_path / "nowhere", *common), "nowhere: folder not found")
    (tmp_path / "empty").mkdir()
    one_line_error(capsys, train("-c", tmp_path / "empty", *common), "no manifest.json")
    for field, spec in (
        ("crop_size", clips_lib.ClipSpec(crop_size=16)),
        ("hist_len", clips_lib.ClipSpec(hist_len=3)),
    ):
        other = tmp_path / field
        clips_lib.process(data / "Train", other, 20, spec=spec, progress=False)
        expected = f"clips have {field} {getattr(spec, field)}; preset 'tiny' expects"
        one_line_error(capsys, train("-c", other, *common), expected)
    clips = ["-c", data / "clips", "--runs_dir", tmp_path, *TINY]
    one_line_error(capsys, train(*clips, "--steps", 0), "--steps 0: expected a positive")
    one_line_error(capsys, train(*clips, "--steps", 3, "--action_gates"), "pass --actions too")
    one_line_error(
        capsys,
        train(*clips, "-l", tmp_path / "nope" / "ckpt-5"),
        "-l/--load_path",
        "nope/ckpt-5: no checkpoint there",
    )
    one_line_error(
        capsys,
        train(*clips, "--steps", 3, "--adv_gradient_cap", -1),
        "adv_gradient_cap must be a finite number >= 0; got -1",
    )
    capped = dataclasses.replace(config.preset("tiny"), adv_gradient_cap=0.5)
    train_lib.prepare_run(tmp_path / "capped", capped, overwrite=False)
    one_line_error(
        capsys,
        train(*clips, "-n", "capped", "--adv_gradient_cap", 1),
        "holds a tiny run with another config (adv_gradient_cap differ)",
    )
    assert train(*clips, "-n", "capped", "--steps", 1) == 0  # resumed: keeps its cap
    assert config.load(tmp_path / "capped" / "config.json").adv_gradient_cap == 0.5
    capsys.readouterr()
    train_lib.prepare_run(tmp_path / "old", config.preset("small"), overwrite=False)
    one_line_error(
        capsys,
        train(*clips, "-n", "old"),
        "holds a run of preset 'small', not 'tiny'",
        "-O/--overwrite",
    )


def test_sigkill_loses_at_most_model_save_freq_steps(data, tmp_path):
    save_every, kill_after = 3, random.randint(8, 20)
    command = [sys.executable, "-m", "avgkit.cli", "train", "-c", data / "clips", "-n", "k",
               "--runs_dir", tmp_path, *TINY, "--steps", 100_000, "--model_save_freq", save_every,
               "--stats_freq", 1, "--summary_freq", 2]  # fmt: skip
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
    process = subprocess.Popen(
        list(map(str, command)),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    printed = 0
    for line in process.stdout:  # "step N: G ..." once a step
        if line.startswith("step "):
            printed = int(line.split(":")[0].split()[1])
            if printed >= kill_after:
                break
    time.sleep(random.uniform(0, 0.05))
    process.kill()  # SIGKILL: no handler runs
    rest = process.communicate()[0]
    printed = max(
        [printed] + [int(s.split(":")[0][5:]) for s in rest.splitlines() if s[:5] == "step "]
    )
    latest = tf.train.latest_checkpoint(str(tmp_path / "k" / "checkpoints"))
    trainer = train_lib.Trainer(config.preset("tiny"))
    train_lib.restore(trainer, latest)
    saved = int(trainer.step.numpy())
    # a step is printed before its checkpoint is written; the next starts after that
    assert saved >= save_every and printed - saved <= save_every, (printed, saved)
    assert all(np.isfinite(v.numpy()).all() for v in trainer.generator.weights)
