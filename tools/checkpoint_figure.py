"""Draw how a run's rollouts change along its training: the truth of one test window of a fresh
recording (`tools/score_fresh.py` records it) and, below it, each generator's rollout from the
same four real frames, at horizons t+1, t+4, t+8 and t+16.

    python tools/checkpoint_figure.py OUT.png GEN [GEN ...] [--test_dir DIR] [--window 0]

GEN: a checkpoint prefix (runs/<name>/checkpoints/ckpt-<step>, labelled by its step),
pretrained:NAME or a run kept in docs/study (labelled by name).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from avgkit import evaluate, files, viz  # noqa: E402
from avgkit.config import HIST_LEN  # noqa: E402
from avgkit.data import pipeline  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from score_fresh import generator_of  # noqa: E402

HORIZONS = (1, 4, 8, 16)


def label_of(name: str) -> str:
    """'20,000' for a ckpt-20000 prefix, else the name."""
    found = re.search(r"ckpt-(\d+)$", name)
    return f"{int(found.group(1)):,}" if found else name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("generators", nargs="+")
    parser.add_argument("--test_dir", type=Path, default=Path("data/mspacman-fresh-s11/Test"))
    parser.add_argument("--window", type=int, default=0, help="which 4 + 16 frame window")
    parser.add_argument("--dpi", type=int, default=72)
    args = parser.parse_args(argv)
    depth = max(HORIZONS)
    sequences, _ = pipeline.test_sequences(args.test_dir, HIST_LEN, depth, per_video=8)
    window = sequences[args.window]
    inputs = pipeline.stack_frames(pipeline.to_unit(window[None, :HIST_LEN]))
    steps = [h - 1 for h in HORIZONS]
    rows = [window[HIST_LEN:][steps]]
    for name in args.generators:
        rows.append(evaluate.rollout(generator_of(name), inputs, depth)[0][steps])
    labels = ["truth", *map(label_of, args.generators)]
    figure = viz.frame_grid(rows, labels, [f"t+{h}" for h in HORIZONS], height=2.2)
    with files.replacing(args.out) as tmp:
        figure.savefig(tmp, format="png", dpi=args.dpi)
    plt.close(figure)
    print(f"{args.out}: {args.out.stat().st_size:,} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
