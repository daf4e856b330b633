"""Where does a rollout lose Ms. Pac-Man: where she goes straight, or where the joystick turns or
reverses her? On the study's test windows of a recording (4 + 16 frames, up to 8 a test
episode), each window is split per horizon by what she really does from the last input frame
to that horizon, and her placement (the study's "placed" for her colour) is averaged per part.

    python tools/player_events.py RUN [RUN ...] [--test_dir data/mspacman-fresh-s11/Test]

RUN as in tools/player_error.py (an action-conditioned generator is fed the recorded actions).
A window is `steady` to horizon h when every frame-to-frame move of hers from the frame before
the last input to t+h that is at least MIN_STEP px goes one way (standing still counts as no
move), an `event` when two ways appear (a turn or a reversal), and left out when she is missing from
a frame or jumps more than MAX_STEP px between two (a side tunnel, a new life). Her centre is
found as tools/player_error.py finds it (`avgkit.play.player_position` at its defaults).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from avgkit import metrics, play, study
from avgkit.config import HIST_LEN
from avgkit.data import pipeline

sys.path.insert(0, str(Path(__file__).parent))
from player_error import predictions  # noqa: E402

HORIZONS = (4, 8, 16)
MIN_STEP = 1.5  # px: smaller moves are her sprite's animation, not a step
MAX_STEP = 8.0  # px: larger moves are jumps (she moves at most about 4 px a frame)


def ways(positions: list) -> set[str] | None:
    """The directions ("UP", "DOWN", "LEFT", "RIGHT") of the frame-to-frame moves of at least
    MIN_STEP px along (row, column) `positions`, each named by its larger component; None if a
    position is missing (None) or a move is longer than MAX_STEP px along either axis."""
    if any(p is None for p in positions):
        return None
    found = set()
    for before, after in zip(positions[:-1], positions[1:]):
        rows, columns = np.asarray(after, float) - before
        step = max(abs(rows), abs(columns))
        if step > MAX_STEP:
            return None
        if step >= MIN_STEP:
            if abs(rows) > abs(columns):
                found.add("DOWN" if rows > 0 else "UP")
            else:
                found.add("RIGHT" if columns > 0 else "LEFT")
    return found


def kind(positions: list) -> str | None:
    """The window's kind: "steady" (one way, or standing), "event" (a turn or a reversal) or
    None (she is missing from a frame, or jumps)."""
    found = ways(positions)
    return None if found is None else "steady" if len(found) <= 1 else "event"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--test_dir", type=Path, default=Path("data/mspacman-fresh-s11/Test"))
    parser.add_argument("--study", type=Path, default=Path("docs/study/player_crops"))
    args = parser.parse_args(argv)
    settings = study.Settings()
    sequences, _, _, _ = study.evaluation_windows(str(args.test_dir), settings)
    palette, groups = study.sprite_groups(str(args.test_dir), settings)
    positions = [[play.player_position(frame) for frame in window] for window in sequences]
    kinds = {  # from the frame before the last input to t+h
        h: np.array([kind(p[HIST_LEN - 2 : HIST_LEN + h]) for p in positions], object)
        for h in HORIZONS
    }
    for h in HORIZONS:
        counted = {k: int(sum(found == k for found in kinds[h])) for k in ("steady", "event", None)}
        print(
            f"t+{h:<2} windows: {counted['steady']} steady, {counted['event']} events, "
            f"{counted[None]} left out"
        )
    for run in args.runs:
        predicted = predictions(run, sequences, args.test_dir, args.study)
        parts = []
        for h in HORIZONS:
            counts = metrics.sprite_counts(
                pipeline.to_unit(predicted[:, h - 1]),
                pipeline.to_unit(sequences[:, HIST_LEN + h - 1]),
                palette,
            )
            _, placed = metrics.sprites_kept(counts, groups["player"])
            steady, event = (np.nanmean(placed[kinds[h] == k]) for k in ("steady", "event"))
            parts.append(f"t+{h} {steady:.2f} / {event:.2f}")
        print(f"{run:32} her placed, steady / event: " + "   ".join(parts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
