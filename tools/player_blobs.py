"""Is the Ms. Pac-Man-coloured mass of a rollout one Ms. Pac-Man, or fragments? On the study's test
windows of a recording (4 + 16 frames, up to 8 a test episode), her colour (the palette's object
colour nearest `avgkit.study.PLAYER_COLOUR`) in each predicted frame, as connected blobs.

    python tools/player_blobs.py RUN [RUN ...] [--test_dir data/mspacman-fresh-s11/Test]

RUN as in tools/score_fresh.py. Per horizon, over the windows where the truth and the prediction
both show her colour: `largest`, the mean share of the predicted her-colour pixels in the
largest blob; `blobs`, the mean number of blobs of at least MIN_BLOB pixels; `size`, the median
of the largest blob's pixels over the truth's her-colour pixels (1: one blob as large as she is).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from avgkit import evaluate, metrics, study
from avgkit.config import HIST_LEN
from avgkit.data import pipeline

sys.path.insert(0, str(Path(__file__).parent))
from score_fresh import generator_of  # noqa: E402

HORIZONS = (1, 4, 8, 16)
MIN_BLOB = 10  # pixels: smaller bits are not counted as blobs


def blob_stats(truth: np.ndarray, drawn: np.ndarray) -> tuple[float, int, float] | None:
    """(largest, blobs, size) of one frame, from bool masks (H, W) of her colour in the truth and
    in the prediction (8-connected blobs); None if either is empty."""
    if not truth.any() or not drawn.any():
        return None
    _, _, stats, _ = cv2.connectedComponentsWithStats(drawn.astype(np.uint8), connectivity=8)
    areas = np.sort(stats[1:, cv2.CC_STAT_AREA])[::-1]
    return areas[0] / drawn.sum(), int((areas >= MIN_BLOB).sum()), areas[0] / truth.sum()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--test_dir", default="data/mspacman-fresh-s11/Test")
    args = parser.parse_args(argv)
    settings = study.Settings()
    sequences, _, inputs, _ = study.evaluation_windows(args.test_dir, settings)
    palette, groups = study.sprite_groups(args.test_dir, settings)
    her = palette.objects[groups["player"][0]]
    truths = {  # her pixels in the truth, per horizon: (N, H, W), the same for every run
        h: metrics.palette_labels(pipeline.to_unit(sequences[:, HIST_LEN + h - 1]), palette) == her
        for h in HORIZONS
    }
    for run in args.runs:
        predicted = evaluate.rollout(generator_of(run), inputs, max(HORIZONS))
        print(run)
        for h in HORIZONS:
            drawn = metrics.palette_labels(predicted[:, h - 1], palette) == her
            found = [blob_stats(t, d) for t, d in zip(truths[h], drawn)]
            found = np.array([f for f in found if f is not None], float)
            print(
                f"  t+{h:<2} largest {found[:, 0].mean():.2f}  blobs {found[:, 1].mean():.2f}  "
                f"size {np.median(found[:, 2]):.2f}  ({len(found)} windows)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
