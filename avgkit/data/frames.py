"""Frame folders in the TF1 layout: `ROOT/{Train,Test}/<video>/<frame>.<ext>`.

Any video and frame names and any common image extension; frames are ordered by natural sort
(`frame2` before `frame10`). Grayscale, palette and RGBA images are converted to RGB. Files that
are not images (`.DS_Store`, `Thumbs.db`, ...) are ignored and counted; `actions.csv`, the
player's actions (`avgkit.data.actions`), is kept as `Video.actions`.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from avgkit.errors import DataError

cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # DataError reports instead
ACTIONS_FILE = "actions.csv"  # the player's actions: avgkit.data.actions
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})


@dataclasses.dataclass(frozen=True)
class Video:
    """One folder of frames: `frames` in playing order, `ignored` non-image files beside them,
    `actions` its actions.csv (None if it has none)."""

    path: Path
    frames: tuple[Path, ...]
    ignored: tuple[Path, ...] = ()
    actions: Path | None = None

    @property
    def name(self) -> str:
        return self.path.name

    def __len__(self) -> int:
        return len(self.frames)


def list_videos(split_dir: str | Path, min_frames: int = 1) -> tuple[list[Video], list[Video]]:
    """The videos of one split folder (e.g. `data/mspacman/Train`), sorted by natural order.

    Returns `(videos, too_short)`: videos with at least `min_frames` frames, and those with fewer.
    Raises DataError if the folder is missing or holds no video folder with frames.
    """
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise DataError(f"{split_dir}: folder not found (expected {split_dir}/<video>/<frames>)")
    videos = [_scan_video(path) for path in sorted(split_dir.iterdir(), key=natural_key)]
    videos = [video for video in videos if video is not None]
    if not any(len(video) for video in videos):
        raise DataError(
            f"{split_dir}: no video folders with image frames in it "
            f"(expected {split_dir}/<video>/<frame>.png, extensions {sorted(IMAGE_EXTENSIONS)})"
        )
    long_enough = [video for video in videos if len(video) >= min_frames]
    too_short = [video for video in videos if len(video) < min_frames]
    return long_enough, too_short


def read_frame(path: str | Path) -> np.ndarray:
    """One image as RGB uint8 (height, width, 3); DataError naming the file if it is unreadable.

    8-bit colour images are decoded by OpenCV (twice as fast as Pillow on PNG); every other mode
    goes through Pillow's conversions.
    """
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is not None and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    try:
        with Image.open(path) as image:
            if image.mode != "RGB":
                image = _to_rgb(image)
            return np.asarray(image, dtype=np.uint8)
    except (OSError, SyntaxError, ValueError) as error:
        raise DataError(f"{path}: not a readable image ({error})") from None


def read_video(video: Video, indices=None, shape: tuple | None = None) -> np.ndarray:
    """Frames of a video (all, or those at `indices`) as uint8 (time, height, width, 3).

    Every frame must have `shape` (default: the shape of the first frame read); DataError naming
    the first frame that does not.
    """
    paths = video.frames if indices is None else [video.frames[i] for i in indices]
    if not paths:
        raise DataError(f"{video.path}: no frames to read")
    frames = [read_frame(path) for path in paths]
    expected = shape or frames[0].shape
    for frame, path in zip(frames, paths):
        if frame.shape != expected:
            raise DataError(
                f"{path}: frame is {frame.shape[1]}x{frame.shape[0]} but the video's frames are "
                f"{expected[1]}x{expected[0]} (width x height); all frames of a video must have "
                "one size"
            )
    return np.stack(frames)


def check_frame_sizes(video: Video, size: tuple[int, int]) -> None:
    """DataError naming the first frame of `video` whose (width, height), read from its image
    header without decoding, is not `size`, or whose header is unreadable."""
    for path in video.frames:
        try:
            with Image.open(path) as image:
                found = image.size
        except (OSError, SyntaxError, ValueError) as error:
            raise DataError(f"{path}: not a readable image ({error})") from None
        if found != tuple(size):
            raise DataError(
                f"{path}: frame is {found[0]}x{found[1]} but the video's frames are "
                f"{size[0]}x{size[1]} (width x height); all frames of a video must have one size"
            )


def to_uint8(images) -> np.ndarray:
    """Images as uint8 [0, 255]: uint8 passes through, float in [-1, 1] is rounded and clipped."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    return np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def natural_key(path: Path) -> list:
    """Sort key that orders `frame2` before `frame10`."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _scan_video(path: Path) -> Video | None:
    if not path.is_dir():
        return None
    frames, ignored, actions = [], [], None
    for file in sorted(path.iterdir(), key=natural_key):
        if file.is_file() and file.suffix.lower() in IMAGE_EXTENSIONS:
            frames.append(file)
        elif file.is_file() and file.name == ACTIONS_FILE:
            actions = file
        else:
            ignored.append(file)
    return Video(path=path, frames=tuple(frames), ignored=tuple(ignored), actions=actions)


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB from any PIL mode; transparent pixels become black, as the image would show on black."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, image).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.int64) // 257  # 16-bit range onto 8 bits
        image = Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))
    return image.convert("RGB")
