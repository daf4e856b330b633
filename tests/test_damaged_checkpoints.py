"""Damaged checkpoints (a data file cut in half, an index overwritten) are named as damaged in
one line, never a traceback or "another preset"; resuming skips them for the newest that
loads."""

from __future__ import annotations

import shutil

import pytest

from avgkit import cli, config
from avgkit import train as train_lib
from avgkit.data import clips as clips_lib
from conftest import write_video

TINY = config.preset("tiny")
EVERY_STEP = train_lib.Frequencies(stats=1, summary=100, images=100, test=100, save=1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("damaged")
    write_video(root / "Train" / "a", 20, seed=1)
    write_video(root / "Test" / "b", 12, seed=2)
    clips_lib.process(root / "Train", root / "clips", 64, workers=1, progress=False)
    train_lib.train(TINY, root / "clips", root / "pristine", 4, adversarial=False,
                    frequencies=EVERY_STEP, progress=False)  # fmt: skip
    return root


def damaged_copy(trained, tmp_path, how):
    run = tmp_path / "run"
    shutil.copytree(trained / "pristine", run)
    newest = run / "checkpoints" / "ckpt-4"
    if how == "cut":
        data = next(newest.parent.glob("ckpt-4.data-*"))
        data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    else:
        (newest.parent / "ckpt-4.index").write_bytes(b"not an index" * 10)
    return run


@pytest.mark.parametrize("how", ["cut", "index"])
def test_evaluating_a_damaged_checkpoint_says_so_in_one_line(trained, tmp_path, capsys, how):
    run = damaged_copy(trained, tmp_path, how)
    code = cli.main(["evaluate", "-l", str(run), "-t", str(trained / "Test"), "-r", "1",
                     "--runs_dir", str(tmp_path / "out")])  # fmt: skip
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert "ckpt-4: damaged checkpoint" in lines[0] and "preset" not in lines[0]


@pytest.mark.parametrize("how", ["cut", "index"])
def test_resuming_skips_a_damaged_checkpoint_and_goes_on(trained, tmp_path, how):
    run = damaged_copy(trained, tmp_path, how)
    train_lib.train(TINY, trained / "clips", run, 6, adversarial=False, frequencies=EVERY_STEP,
                    progress=False)  # fmt: skip
    steps = [row["step"] for row in train_lib.read_log(run / "results" / "train_log.csv")]
    assert steps == [1, 2, 3, 4, 5, 6]  # resumed at 3: rows 4-6 written again
    assert train_lib.saved_step(run) == 6


def test_the_resumed_run_names_what_it_skipped(trained, tmp_path, capsys):
    damaged_copy(trained, tmp_path, "cut")  # tmp_path/run, resumed below by its name
    code = cli.main(["train", "-c", str(trained / "clips"), "-n", "run", "--runs_dir",
                     str(tmp_path), "--preset", "tiny", "-a", "f", "--steps", "5",
                     "--test_freq", "100"])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0
    assert "skipping" in out.out + out.err and "ckpt-4: damaged" in out.out + out.err
    assert "resuming at step 3" in out.out + out.err
