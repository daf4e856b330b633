"""Video files (mp4, avi, ...: whatever ffmpeg reads) into the TF1 frame-folder layout.

`import_videos` writes `OUT/{Train,Test}/<video name>/<frame>.png`; every `test_every`-th video
(in natural order) goes to `Test/`, the others to `Train/`. Videos already imported are skipped,
and each is written to a temporary folder and renamed when complete.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from avgkit.data.frames import natural_key
from avgkit.errors import ConfigError, DataError

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v"})
FFMPEG_CONTEXT = re.compile(r"^\[[^\]]* @ 0x[0-9a-f]+\] ")  # a log line's "[in#0 @ 0x55ec...] "


def import_videos(
    sources: list[str | Path],
    out: str | Path,
    stride: int = 1,
    resize: tuple[int, int] | None = None,
    test_every: int = 5,
    progress: bool = True,
) -> list[Path]:
    """Import video files, or every video in given folders; returns the frame folders written.

    `stride` keeps every n-th frame; `resize` is (width, height) in pixels; `test_every` n sends
    every n-th video to Test/ (0: all to Train/).
    """
    if stride < 1:
        raise ConfigError(f"--stride {stride}: expected 1 or more")
    if test_every < 0:
        raise ConfigError(f"--test-every {test_every}: expected 0 or more")
    if resize is not None and min(resize) < 1:
        raise ConfigError(f"--resize {resize[0]}x{resize[1]}: expected positive width and height")
    videos = find_videos(sources)
    out = Path(out)
    written = []
    for index, path in enumerate(tqdm(videos, desc="import", unit="video", disable=not progress)):
        split = "Test" if test_every and (index + 1) % test_every == 0 else "Train"
        final = out / split / path.stem
        if not final.is_dir():
            _import_one(path, final, stride, resize)
        written.append(final)
    return written


def find_videos(sources: list[str | Path]) -> list[Path]:
    """The video files named, and those found (recursively) in named folders, natural order."""
    found = []
    for source in map(Path, sources):
        if source.is_dir():
            inside = [p for p in source.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS]
            if not inside:
                raise DataError(f"{source}: no video files in it ({sorted(VIDEO_EXTENSIONS)})")
            found += sorted(inside, key=natural_key)
        elif source.is_file():
            found.append(source)
        else:
            raise DataError(f"{source}: no such file or folder")
    names = [path.stem for path in found]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DataError(f"several videos are named {duplicates[0]!r}: names must be unique")
    return found


def read_video_file(path: str | Path, stride: int = 1):
    """Yield every `stride`-th frame of a video file as uint8 (height, width, 3)."""
    try:
        reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
        meta = next(reader)
        width, height = meta["size"]
        for index, raw in enumerate(reader):
            if index % stride == 0:
                yield np.frombuffer(raw, np.uint8).reshape(height, width, 3)
    except (OSError, RuntimeError, StopIteration, KeyError) as error:
        reason = _ffmpeg_reason(str(error), str(path))
        raise DataError(f"{path}: not a readable video ({reason})") from None


def _ffmpeg_reason(message: str, path: str) -> str:
    """ffmpeg's own reason for failing on `path`, in one line, from imageio_ffmpeg's message.

    The message is imageio_ffmpeg's summary, then after "=== stderr ===" ffmpeg's log: a banner
    (a line, then indented ones), what ffmpeg found, then its verdict: "Error opening input: ..."
    or "Error opening output ..." (ffmpeg 7 and later), "<path>: <reason>" (before). The reason is
    the last line logged before the verdict ("moov atom not found"), else the verdict's own
    ("Invalid data found when processing input"); with no verdict, imageio_ffmpeg's last line.
    Probing warnings ("... misdetection possible!") are not reasons.
    """
    summary, _, log = message.partition("=== stderr ===")
    said = []
    for line in log.splitlines():
        line = FFMPEG_CONTEXT.sub("", line)
        if line.startswith(("Error opening", f"{path}: ")):
            return said[-1] if said else line.rpartition(": ")[2]
        banner = not line[:1].strip() or line.startswith("ffmpeg version")
        if not banner and "misdetection possible" not in line:
            said.append(line)
    return summary.strip().rpartition("\n")[2]


def _import_one(path: Path, final: Path, stride: int, resize: tuple[int, int] | None) -> None:
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    count = 0
    for count, frame in enumerate(read_video_file(path, stride), start=1):
        image = Image.fromarray(frame)
        if resize is not None:
            image = image.resize(resize, Image.Resampling.LANCZOS)
        image.save(tmp / f"{count - 1:06d}.png")
    if count == 0:
        shutil.rmtree(tmp)
        raise DataError(f"{path}: the video has no frames")
    tmp.rename(final)
