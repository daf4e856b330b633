"""Where a generator's whole-frame error at t+1 lies: on the pixels that stay still (the truth's
frame equals the last input there) or on those that change, and on which rows of the still ones.

    python tools/static_error.py RUN [RUN ...] [--test_dir DIR] [--windows 8]

RUN as in tools/score_fresh.py (a run kept in docs/study, pretrained:NAME or a checkpoint). For
each, on the first `--windows` windows of 4 + 1 frames of every test episode (the fresh recording
by default): the mean squared error (8-bit scale, mean over RGB) on still and on changing pixels,
the still pixels' share of the whole frame's squared error, and the three rows that hold most of
the still pixels' squared error, with their shares of it (row 0 is the frame's top).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from avgkit import evaluate
from avgkit.config import HIST_LEN
from avgkit.data import pipeline

sys.path.insert(0, str(Path(__file__).parent))
from score_fresh import generator_of  # noqa: E402


def still_error(last_input: np.ndarray, truth: np.ndarray, predicted: np.ndarray) -> dict:
    """The error split of `predicted` against `truth`, all (N, H, W, 3) on the 8-bit scale
    (`last_input` and `truth` uint8, `predicted` float): mean squared error (mean over RGB) on the
    still pixels (truth equal to `last_input` in every channel) and on the changing ones, the
    still pixels' share of the whole squared error, and each row's share of the still pixels'
    squared error, (H,)."""
    still = np.all(truth == last_input, axis=-1)  # (N, H, W)
    squared = ((predicted - truth.astype(np.float64)) ** 2).mean(axis=-1)
    still_total = squared[still].sum()
    return {
        "mse_still": float(squared[still].mean()),
        "mse_changing": float(squared[~still].mean()),
        "still_share": float(still_total / squared.sum()),
        "row_shares": np.where(still, squared, 0.0).sum(axis=(0, 2)) / still_total,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--test_dir", type=Path, default=Path("data/mspacman-fresh-s11/Test"))
    parser.add_argument("--windows", type=int, default=8, help="windows per test episode")
    args = parser.parse_args(argv)
    sequences, _ = pipeline.test_sequences(args.test_dir, HIST_LEN, 1, per_video=args.windows)
    inputs = pipeline.stack_frames(pipeline.to_unit(sequences[:, :HIST_LEN]))
    last_input, truth = sequences[:, HIST_LEN - 1], sequences[:, HIST_LEN]
    still = np.all(truth == last_input, axis=-1).mean()
    print(f"{len(sequences)} windows; {still:.3f} of the pixels stay still at t+1")
    for run in args.runs:
        predicted = (evaluate.rollout(generator_of(run), inputs, 1)[:, 0] + 1.0) * 127.5
        split = still_error(last_input, truth, predicted)
        rows = split["row_shares"]
        worst = np.argsort(rows)[::-1][:3]
        print(
            f"{run}: MSE still {split['mse_still']:.2f}, changing {split['mse_changing']:.1f}; "
            f"still pixels' share of the squared error {split['still_share']:.2f}; "
            "rows holding most of the still error: "
            + ", ".join(
                f"{r} ({rows[r]:.2f}, {rows[r] * split['mse_still']:.2f} of the MSE)" for r in worst
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
