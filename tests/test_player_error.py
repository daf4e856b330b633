"""tools/player_error.py's per-horizon line, on hand-made frames with Ms. Pac-Man's colour at
known places: shown, centre error, direction and length of her predicted move."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from avgkit.study import PLAYER_COLOUR

sys.path.insert(0, str(Path(__file__).parents[1] / "tools"))
from player_error import horizon_line  # noqa: E402


def frame_with_her(row: int | None, column: int | None) -> np.ndarray:
    """A black 210x160 frame with a 3x3 block of her colour centred at (row, column)."""
    frame = np.zeros((210, 160, 3), np.uint8)
    if row is not None:
        frame[row - 1 : row + 2, column - 1 : column + 2] = PLAYER_COLOUR
    return frame


def test_the_line_counts_shown_error_way_and_length_by_hand():
    start = [np.array([50.0, 50.0])] * 3
    truth = np.stack([frame_with_her(50, 60), frame_with_her(80, 50), frame_with_her(100, 100)])
    predicted = np.stack(
        [
            frame_with_her(50, 56),  # right way, 6 of her 10 px: 4 px off
            frame_with_her(40, 50),  # up where she went down 30 px: 40 px off
            frame_with_her(None, None),  # not drawn
        ]
    )
    line = horizon_line(start, truth, predicted)
    # 2 of 3 shown; errors 4 and 40, median 22; ways True, False; lengths 0.6 and 1/3
    assert line.startswith("shown 0.67  error  22.0 px  way 0.50  length 0.47  (moved: 2)")
