"""Reading frame folders: order, colour modes, and clear errors for bad input."""

import numpy as np
import pytest
from PIL import Image

from avgkit.data import frames
from avgkit.errors import DataError


def test_frames_are_in_natural_order(tmp_path):
    video = tmp_path / "Train" / "v"
    video.mkdir(parents=True)
    for index in (10, 2, 1, 33):
        Image.new("RGB", (4, 4), (index, 0, 0)).save(video / f"frame{index}.png")
    (videos, short) = frames.list_videos(tmp_path / "Train")
    assert [p.name for p in videos[0].frames] == [
        "frame1.png",
        "frame2.png",
        "frame10.png",
        "frame33.png",
    ]
    assert short == []
    assert frames.read_video(videos[0])[:, 0, 0, 0].tolist() == [1, 2, 10, 33]


def test_colour_modes_become_rgb(tmp_path):
    gray = Image.fromarray(np.full((3, 5), 77, np.uint8), "L")
    gray.save(tmp_path / "gray.png")
    rgba = np.zeros((3, 5, 4), np.uint8)
    rgba[..., :3] = (200, 100, 50)
    rgba[..., 3] = 255
    rgba[0, 0, 3] = 0  # one transparent pixel: shows as black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    palette = Image.fromarray(np.full((3, 5, 3), (10, 20, 30), np.uint8))
    palette = palette.convert("P", palette=Image.Palette.ADAPTIVE)
    palette.save(tmp_path / "palette.gif")
    wide = Image.fromarray(np.full((3, 5), 65535, np.uint16))
    wide.save(tmp_path / "sixteen.png")

    assert frames.read_frame(tmp_path / "gray.png").tolist() == np.full((3, 5, 3), 77).tolist()
    colour = frames.read_frame(tmp_path / "rgba.png")
    assert colour.shape == (3, 5, 3) and colour[0, 0].tolist() == [0, 0, 0]
    assert colour[1, 1].tolist() == [200, 100, 50]
    assert frames.read_frame(tmp_path / "palette.gif")[2, 4].tolist() == [10, 20, 30]
    assert frames.read_frame(tmp_path / "sixteen.png")[0, 0].tolist() == [255, 255, 255]


def test_stray_files_are_ignored_and_counted(frame_root):
    video = frame_root / "Train" / "video1"
    (video / ".DS_Store").write_bytes(b"\0\1")
    (video / "Thumbs.db").write_bytes(b"\0")
    (video / "notes.txt").write_text("hello")
    videos, _ = frames.list_videos(frame_root / "Train")
    assert len(videos[0]) == 12
    assert sorted(p.name for p in videos[0].ignored) == [".DS_Store", "Thumbs.db", "notes.txt"]


def test_missing_or_empty_train_folder(tmp_path):
    with pytest.raises(DataError, match="Train: folder not found"):
        frames.list_videos(tmp_path / "Train")
    (tmp_path / "Train" / "video").mkdir(parents=True)
    (tmp_path / "Train" / "video" / ".DS_Store").write_bytes(b"")
    with pytest.raises(DataError, match="no video folders with image frames"):
        frames.list_videos(tmp_path / "Train")


def test_corrupt_image_names_the_file(frame_root):
    bad = frame_root / "Train" / "video1" / "frame3.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    with pytest.raises(DataError, match=r"frame3\.png: not a readable image"):
        frames.read_frame(bad)


def test_mixed_sizes_name_the_odd_frame(frame_root):
    odd = frame_root / "Train" / "video1" / "frame5.png"
    Image.new("RGB", (30, 20)).save(odd)
    videos, _ = frames.list_videos(frame_root / "Train")
    with pytest.raises(
        DataError, match=r"frame5\.png: frame is 30x20 but the video's frames are 64x48"
    ):
        frames.read_video(videos[0])


def test_to_uint8_rounds_and_clips():
    values = np.array([-1.5, -1.0, 0.0, 0.999, 1.0, 2.0], np.float32)
    assert frames.to_uint8(values).tolist() == [0, 0, 128, 255, 255, 255]
