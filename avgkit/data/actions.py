"""The player's actions beside the frames: `<video>/actions.csv`, and the game's action set.

`actions.csv` has a header `frame,action`, then one row per frame of its folder: the frame's
file name and the name of the action (ALE's names, e.g. `UP`) held while the emulator produced
that frame. Its rows may come in any order; every frame of the folder must have exactly one.
The action set, the names of the game's actions in ALE's order (Ms. Pac-Man has 9: NOOP, UP,
RIGHT, LEFT, DOWN, UPRIGHT, UPLEFT, DOWNRIGHT, DOWNLEFT), is listed under "actions" in the
`recording.json` beside the Train/ and Test/ folders (`avgkit record` writes both). An action is
stored as its index into the action set (uint8). Frame folders without `actions.csv` (older
recordings, imported videos) have no actions, and everything but an action-conditioned model
works on them as before.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from avgkit.data.frames import ACTIONS_FILE as FILE
from avgkit.errors import DataError

HEADER = ["frame", "action"]
RECORDING = "recording.json"


def write(folder: str | Path, frames: Sequence[str], actions: Sequence[str]) -> Path:
    """`folder/actions.csv`: one row (frame file name, action name) per frame; returns its path."""
    path = Path(folder) / FILE
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        writer.writerows(zip(frames, actions, strict=True))
    return path


def read(video, action_set: Sequence[str]) -> np.ndarray:
    """The action of every frame of `video` (a `frames.Video` with an actions.csv), uint8
    (len(video),) indices into `action_set`, in the video's frame order. DataError naming the
    file, and the line where there is one, for a header other than `frame,action`, a row that
    names a frame not in the folder or one named before, an action not in `action_set`, or a
    frame with no row."""
    path = video.actions
    if path is None:
        raise DataError(f"{video.path}: no {FILE} (the player's actions) beside its frames")
    index = {name: i for i, name in enumerate(action_set)}
    order = {frame.name: i for i, frame in enumerate(video.frames)}
    found = np.full(len(video), -1)
    rows = _rows(path)
    for line, row in rows:
        if len(row) != 2:
            raise DataError(f"{path}, line {line}: expected 2 fields (frame,action); got {row}")
        frame, action = row
        if frame not in order:
            raise DataError(f"{path}, line {line}: names frame {frame!r}, not in {video.path}")
        if found[order[frame]] >= 0:
            raise DataError(f"{path}, line {line}: names frame {frame!r} a second time")
        if action not in index:
            raise DataError(
                f"{path}, line {line}: action {action!r} is not in the action set "
                f"({', '.join(action_set)})"
            )
        found[order[frame]] = index[action]
    missing = [video.frames[i].name for i in np.flatnonzero(found < 0)]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise DataError(f"{path}: no row for frame {missing[0]}{more}; expected one per frame")
    return found.astype(np.uint8)


def indices(names, action_set: Sequence[str]) -> np.ndarray:
    """Action names (any nesting of lists, e.g. (N, R)) as uint8 indices into `action_set`, of
    the same shape; DataError naming the first name not in it."""
    index = {name: i for i, name in enumerate(action_set)}
    names = np.asarray(names, dtype=object)
    unknown = [name for name in names.ravel() if name not in index]
    if unknown:
        raise DataError(f"action {unknown[0]!r} is not in the action set ({', '.join(action_set)})")
    return np.vectorize(index.__getitem__, otypes=[np.uint8])(names).reshape(names.shape)


def action_set(split_dir: str | Path) -> tuple[str, ...] | None:
    """The action set listed in the recording.json beside `split_dir` (ROOT/Train ->
    ROOT/recording.json), or None if there is none."""
    path = Path(split_dir).parent / RECORDING
    if not path.exists():
        return None
    try:
        names = json.loads(path.read_text()).get("actions")
    except ValueError as error:
        raise DataError(f"{path}: not valid JSON ({error})") from None
    return None if names is None else tuple(names)


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, fields) of each row of an actions.csv after its header."""
    try:
        with path.open(newline="") as file:
            lines = list(csv.reader(file))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path}: not a readable CSV file ({error})") from None
    if not lines or lines[0] != HEADER:
        found = ",".join(lines[0]) if lines else "an empty file"
        raise DataError(f"{path}: expected the header {','.join(HEADER)}; found {found}")
    return [(line, row) for line, row in enumerate(lines[1:], start=2) if row]
