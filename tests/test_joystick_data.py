"""tools/joystick_data.py's agreement between Ms. Pac-Man's turns and the actions held, counted by
hand on a made-up action list."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tools"))
from joystick_data import turn_agreement  # noqa: E402


def test_turns_are_matched_against_the_action_held_lag_frames_before():
    held = ["NOOP", "LEFT", "UPLEFT", "UP", "DOWN", "RIGHT"]
    turns = [(3, "LEFT", "UP"), (5, "UP", "RIGHT")]
    found = turn_agreement(held, turns, lags=[-1, 0, 1, 2, 5])
    # lag -1: UP in held[4] "DOWN" no; turn 5 has no action a frame after
    # lag 0: UP in held[3] "UP" yes, RIGHT in held[5] "RIGHT" yes
    # lag 1: UP in held[2] "UPLEFT" yes, RIGHT in held[4] "DOWN" no
    # lag 2: UP in held[1] "LEFT" no, RIGHT in held[3] "UP" no
    # lag 5: turn 3 has no action 5 frames before; RIGHT in held[0] "NOOP" no
    assert found == {-1: (0, 1), 0: (2, 2), 1: (1, 2), 2: (0, 2), 5: (0, 1)}
