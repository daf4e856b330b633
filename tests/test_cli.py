"""The `avgkit` command line: TF1 flag names, help, and one clear line for bad input."""

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from avgkit import cli
from conftest import write_video


def avgkit(*args, cwd=None):
    """Run the real console entry point in a fresh process."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, "-m", "avgkit.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
    )


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("avgkit")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize("spelling", ["--num_clips", "--num-clips"])
def test_long_flags_take_both_spellings(spelling):
    args = cli._parser().parse_args(
        ["process", spelling, "7", "--train-dir", "a", "--clips_dir", "b"]
    )
    assert (args.num_clips, args.train_dir, args.clips_dir) == (7, "a", "b")


def test_tf1_short_flags_and_defaults():
    args = cli._parser().parse_args(["process", "-n", "9", "-t", "T", "-c", "C", "-o"])
    assert (args.num_clips, args.train_dir, args.clips_dir, args.overwrite) == (9, "T", "C", True)
    defaults = cli._parser().parse_args(["process"])
    assert defaults.num_clips == 5_000_000 and not defaults.overwrite


@pytest.mark.parametrize("flag", ["-h", "-H", "--help"])
def test_help(flag, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["process", flag])
    assert stop.value.code == 0
    assert "-n NUM_CLIPS, --num_clips NUM_CLIPS, --num-clips NUM_CLIPS" in capsys.readouterr().out


def test_record_and_process_end_to_end(tmp_path):
    recorded = avgkit(
        "record",
        "--out",
        tmp_path / "pac",
        "--train-episodes",
        "1",
        "--test-episodes",
        "1",
        "--frames",
        "12",
        "--seed",
        "2",
    )
    assert recorded.returncode == 0, recorded.stderr
    processed = avgkit(
        "process",
        "-t",
        tmp_path / "pac" / "Train",
        "-c",
        tmp_path / "clips",
        "-n",
        "500",
        "--workers",
        "2",
    )
    assert processed.returncode == 0, processed.stderr
    assert processed.stdout.startswith("500 clips in 1 shards")
    assert json.loads((tmp_path / "clips" / "manifest.json").read_text())["num_clips"] == 500


def test_import_video_resize_flag_is_checked(tmp_path):
    assert_one_line_error(
        avgkit("import-video", tmp_path, "--out", tmp_path / "o", "--resize", "big"),
        "--resize big: expected WIDTHxHEIGHT",
    )


def test_bad_input_gives_one_line(tmp_path):
    assert_one_line_error(
        avgkit("process", "-t", tmp_path / "nowhere", "-c", tmp_path / "c", "-n", "5"),
        "nowhere: folder not found",
    )
    (tmp_path / "Train").mkdir()
    assert_one_line_error(
        avgkit("process", "-t", tmp_path / "Train", "-c", tmp_path / "c"),
        "Train: no video folders with image frames",
    )
    assert_one_line_error(
        avgkit("process", "-t", tmp_path / "Train", "-n", "-3"),
        "-n/--num_clips -3: expected a positive number",
    )
    assert_one_line_error(
        avgkit("record", "--game", "Pacmann", "--out", tmp_path / "r"),
        "--game Pacmann: not an ALE game",
    )


def test_corrupt_image_via_the_command_line(tmp_path):
    write_video(tmp_path / "Train" / "v", 8)
    Image.new("RGB", (64, 48)).save(tmp_path / "Train" / "v" / "frame3.png")
    (tmp_path / "Train" / "v" / "frame3.png").write_bytes(b"\x89PNG broken")
    result = avgkit("process", "-t", tmp_path / "Train", "-c", tmp_path / "c", "-n", "20")
    assert_one_line_error(result, "frame3.png: not a readable image")
