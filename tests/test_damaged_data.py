"""Damaged clips (a shard cut short, a byte changed, a shard deleted, a manifest naming a shard
twice or not JSON) are named in one line, never a traceback; training leaves no new run folder;
a rerun of `avgkit process` remakes what is damaged, byte for byte, and keeps the rest."""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shlex
import shutil

import numpy as np
import pytest

from avgkit import cli, config
from avgkit import train as train_lib
from avgkit.data import clips as clips_lib
from avgkit.errors import DataError
from conftest import write_video

TINY = config.preset("tiny")
NUM_CLIPS = 300


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """ROOT/Train (3 videos of 30 frames) and ROOT/clips: 300 clips in 3 shards, one a video."""
    root = tmp_path_factory.mktemp("pristine")
    for index in range(3):
        write_video(root / "Train" / f"v{index}", 30, seed=index)
    clips_lib.process(root / "Train", root / "clips", NUM_CLIPS, workers=1, progress=False)
    return root


@pytest.fixture
def clips(pristine, tmp_path):
    """A copy of the pristine clips folder, to damage."""
    return shutil.copytree(pristine / "clips", tmp_path / "clips")


def shard_files(clips_dir):
    return sorted(clips_dir.glob("clips-*.npz"))


def damage(path, how: str) -> None:
    """Cut the file to 2,000 bytes, change one byte in its compressed clips, or delete it."""
    if how == "cut":
        path.write_bytes(path.read_bytes()[:2000])
    elif how == "byte":
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF  # the middle of the file: inside the deflated clips array
        path.write_bytes(bytes(data))
    else:
        path.unlink()


def process(pristine, clips_dir, *args):
    return cli.main(["process", "-t", str(pristine / "Train"), "-c", str(clips_dir),
                     "-n", str(NUM_CLIPS), "--workers", "1", *args])  # fmt: skip


def train(clips_dir, runs_dir):
    return cli.main(["train", "-c", str(clips_dir), "-n", "run", "--runs_dir", str(runs_dir),
                     "--preset", "tiny", "-a", "f", "--steps", "2"])  # fmt: skip


def one_line(capsys, code, command: str) -> str:
    """The only line on stderr, after exit code 2."""
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"avgkit {command}: error: ")
    return lines[0]


def test_the_manifest_records_each_shards_size_and_sha256(pristine):
    manifest = json.loads((pristine / "clips" / "manifest.json").read_text())
    assert [shard["file"] for shard in manifest["shards"]] == [
        path.name for path in shard_files(pristine / "clips")
    ]
    for shard in manifest["shards"]:
        data = (pristine / "clips" / shard["file"]).read_bytes()
        assert shard["bytes"] == len(data)
        assert shard["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("how", ["cut", "byte", "deleted"])
def test_training_names_the_damaged_shard_in_one_line_and_its_command_repairs_it(
    pristine, clips, tmp_path, capsys, how
):
    target = shard_files(clips)[1]
    original = target.read_bytes()
    kept = {path.name: path.stat().st_mtime_ns for path in shard_files(clips) if path != target}
    damage(target, how)
    line = one_line(capsys, train(clips, tmp_path / "runs"), "train")
    assert f"{target}: " in line
    assert not (tmp_path / "runs" / "run").exists()  # no run folder left behind
    command = re.search(r"remake it with `([^`]*)`", line).group(1)
    assert command.startswith("avgkit process -t ")
    assert cli.main(shlex.split(command)[1:]) == 0
    out = capsys.readouterr().out
    assert f"warning: {target}: " in out and "; damaged or missing shards remade: 1" in out
    assert target.read_bytes() == original  # byte for byte what the uninterrupted run made
    assert kept == {p.name: p.stat().st_mtime_ns for p in shard_files(clips) if p != target}


def test_a_rerun_on_an_intact_folder_remakes_nothing(pristine, clips, capsys):
    mtimes = [path.stat().st_mtime_ns for path in shard_files(clips)]
    assert process(pristine, clips) == 0
    assert "; 0 made in" in capsys.readouterr().out
    assert [path.stat().st_mtime_ns for path in shard_files(clips)] == mtimes


def test_a_shard_is_checked_when_its_block_is_loaded_not_before(clips):
    """Blocks of 2 steps from 1 shard each: a damaged shard that the first blocks do not draw
    stops training only at the first block that does, raised by the thread that prefetched it."""
    make = functools.partial(train_lib.ShardBatches, clips, TINY, block_steps=2, shards_per_block=1)
    owners = {bytes(clip): path for path in shard_files(clips) for clip in np.load(path)["clips"]}
    clean = make()
    drawn = [owners[bytes(clean.block_clips(block)[0])] for block in range(20)]
    clean.close()
    first = next(block for block, path in enumerate(drawn) if path != drawn[0])
    damage(drawn[first], "byte")
    batches = make()
    try:
        for step in range(2 * first):  # the blocks before it never read it
            batches.batch(step)
        with pytest.raises(DataError, match=rf"{drawn[first].name}: .*remake it with"):
            batches.batch(2 * first)
    finally:
        batches.close()


def test_a_manifest_without_checksums_still_loads_and_the_rerun_adds_them(pristine, clips):
    manifest = json.loads((clips / "manifest.json").read_text())
    for shard in manifest["shards"]:
        del shard["bytes"], shard["sha256"]
    (clips / "manifest.json").write_text(json.dumps(manifest))
    batches = train_lib.ShardBatches(clips, TINY)
    batches.batch(0)  # readable shards: trains as before
    batches.close()
    target = shard_files(clips)[2]
    original = target.read_bytes()
    damage(target, "cut")
    batches = train_lib.ShardBatches(clips, TINY)
    with pytest.raises(DataError, match=rf"{target.name}: not a readable clips shard"):
        batches.batch(0)
    batches.close()
    summary = clips_lib.process(pristine / "Train", clips, NUM_CLIPS, workers=1, progress=False)
    assert summary.remade == 1 and target.read_bytes() == original
    for shard in json.loads((clips / "manifest.json").read_text())["shards"]:
        assert shard["sha256"] == hashlib.sha256((clips / shard["file"]).read_bytes()).hexdigest()


def test_a_manifest_naming_a_shard_twice(pristine, clips, tmp_path, capsys):
    manifest = json.loads((clips / "manifest.json").read_text())
    manifest["shards"].append(manifest["shards"][0])
    (clips / "manifest.json").write_text(json.dumps(manifest))
    line = one_line(capsys, train(clips, tmp_path / "runs"), "train")
    assert f"manifest.json: names {manifest['shards'][0]['file']} twice" in line
    assert not (tmp_path / "runs" / "run").exists()
    assert process(pristine, clips) == 0  # the rerun writes the manifest again
    assert json.loads((clips / "manifest.json").read_text()) == json.loads(
        (pristine / "clips" / "manifest.json").read_text()
    )


def test_a_manifest_that_is_not_json(pristine, clips, tmp_path, capsys):
    text = (clips / "manifest.json").read_text()
    (clips / "manifest.json").write_text(text[: len(text) // 2])
    for command, run in (("train", lambda: train(clips, tmp_path / "runs")),
                         ("process", lambda: process(pristine, clips))):  # fmt: skip
        line = one_line(capsys, run(), command)
        assert "manifest.json: not valid JSON (" in line and "pass -o/--overwrite" in line
    assert not (tmp_path / "runs" / "run").exists()
    assert [path.read_bytes() for path in shard_files(clips)] == [
        path.read_bytes() for path in shard_files(pristine / "clips")
    ]
