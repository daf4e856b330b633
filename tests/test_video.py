"""Importing video files into frame folders."""

import subprocess
import sys

import imageio_ffmpeg
import numpy as np
import pytest

from avgkit.data import frames, video
from avgkit.errors import DataError


def write_mp4(path, count=10, size=(64, 48)):
    """A real H.264 file of `count` frames whose brightness rises frame by frame."""
    width, height = size
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (width, height),
        fps=10,
        quality=9,
        macro_block_size=1,
        output_params=["-loglevel", "error"],
    )
    writer.send(None)
    for index in range(count):
        writer.send(np.full((height, width, 3), 20 * index, np.uint8).tobytes())
    writer.close()
    return path


def test_import_with_stride_resize_and_split(tmp_path):
    sources = tmp_path / "videos"
    sources.mkdir()
    for index in range(1, 4):
        write_mp4(sources / f"clip{index}.mp4")
    (sources / "readme.txt").write_text("not a video")
    written = video.import_videos(
        [sources], tmp_path / "out", stride=3, resize=(32, 24), test_every=3, progress=False
    )
    assert [p.relative_to(tmp_path / "out").as_posix() for p in written] == [
        "Train/clip1",
        "Train/clip2",
        "Test/clip3",
    ]
    imported = frames.read_video(frames.list_videos(tmp_path / "out" / "Train")[0][0])
    assert imported.shape == (4, 24, 32, 3)  # frames 0, 3, 6, 9
    brightness = imported.mean(axis=(1, 2, 3))
    assert np.all(np.abs(brightness - [0, 60, 120, 180]) < 6)


def test_already_imported_videos_are_kept(tmp_path):
    source = write_mp4(tmp_path / "a.mp4")
    first = video.import_videos([source], tmp_path / "out", test_every=0, progress=False)
    stamp = (first[0] / "000000.png").stat().st_mtime_ns
    video.import_videos([source], tmp_path / "out", test_every=0, progress=False)
    assert (first[0] / "000000.png").stat().st_mtime_ns == stamp


def test_bad_videos(tmp_path):
    (tmp_path / "broken.mp4").write_bytes(b"not really an mp4")
    with pytest.raises(DataError, match=r"broken\.mp4: not a readable video"):
        video.import_videos([tmp_path / "broken.mp4"], tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "Train" / "broken").exists()
    with pytest.raises(DataError, match="missing.mp4: no such file or folder"):
        video.import_videos([tmp_path / "missing.mp4"], tmp_path / "out", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: no video files in it"):
        video.import_videos([tmp_path / "empty"], tmp_path / "out", progress=False)


@pytest.mark.parametrize(
    "name, reason",
    [
        ("garbage.mp4", "moov atom not found"),
        ("truncated.mp4", "moov atom not found"),
        ("garbage.avi", "Invalid data found when processing input"),
    ],
)
def test_unreadable_video_is_one_error_line_with_ffmpegs_reason(tmp_path, name, reason):
    """`avgkit import-video` names the file and gives ffmpeg's reason, without ffmpeg's log."""
    path = tmp_path / name
    if name.startswith("truncated"):
        whole = write_mp4(tmp_path / "whole.mp4").read_bytes()
        path.write_bytes(whole[: len(whole) // 2])  # cuts off the index (moov atom) at the end
    else:
        path.write_bytes(b"not really a video\n" * 10)
    done = subprocess.run(
        [sys.executable, "-m", "avgkit.cli", "import-video", str(path), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    errors = [line for line in lines if line and not line.startswith("import:")]  # no progress bar
    assert errors == [f"avgkit import-video: error: {path}: not a readable video ({reason})"]
