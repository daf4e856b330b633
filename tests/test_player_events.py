"""tools/player_events.py's split of test windows by what Ms. Pac-Man does, on hand-made paths of
her centre (row, column)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tools"))
from player_events import kind, ways  # noqa: E402


def path(*steps, start=(50.0, 50.0)):
    """Positions from `start` along (row, column) steps."""
    positions = [start]
    for rows, columns in steps:
        positions.append((positions[-1][0] + rows, positions[-1][1] + columns))
    return positions


def test_a_straight_run_at_uneven_speed_is_steady():
    her = path((0, -2), (0, -4), (0, -3), (1, 0), (0, -2))  # 1 px down: < 1.5 px, not a step
    assert ways(her) == {"LEFT"}
    assert kind(her) == "steady"


def test_standing_or_animation_jitter_is_steady():
    assert ways(path((1, 0), (-1, 0), (0, 1))) == set()
    assert kind(path((1, 0), (-1, 0), (0, 1))) == "steady"


def test_a_reversal_and_a_turn_are_events():
    assert ways(path((0, 3), (0, 2), (0, -2))) == {"RIGHT", "LEFT"}
    assert kind(path((0, 3), (0, 2), (0, -2))) == "event"
    assert ways(path((3, 0), (2, 1), (0, 3))) == {"DOWN", "RIGHT"}  # (2, 1): mostly down
    assert kind(path((3, 0), (2, 1), (0, 3))) == "event"


def test_a_missing_frame_or_a_jump_leaves_the_window_out():
    her = path((0, 3), (0, 3))
    her[1] = None
    assert ways(her) is None
    assert kind(her) is None
    tunnel = path((0, 3), (0, -150), (0, 3))  # out at one side, in at the other
    assert ways(tunnel) is None
    assert kind(path((0, 3), (0, 8), (0, 3))) == "steady"  # 8 px is still a step
