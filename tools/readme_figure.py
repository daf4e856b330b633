"""Draw the README's pictures of the shipped generators' predictions: docs/predictions.gif and
docs/predictions.png.

Records one Ms. Pac-Man test episode with `avgkit.data.atari` (cached under $AVGKIT_HOME, a few
seconds), rolls `pretrained:l1_gdl_long`, `pretrained:adv_gdl_long`, `pretrained:l1_gdl` and
`pretrained:adv_gdl` out 16 frames deep from four real frames, each later frame predicted from
the frames before it (its own predictions included), and shows them beside the truth and the two
baselines, copy_last (the last input frame again) and flow (its motion carried on): as a GIF at
the frames' own size, the four inputs first, and as a grid of horizons t+1, t+4, t+8 and t+16:

    .venv/bin/python tools/readme_figure.py [--out docs/predictions] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from avgkit import evaluate, files, home, pretrained, viz  # noqa: E402
from avgkit.config import HIST_LEN  # noqa: E402
from avgkit.data import atari, pipeline  # noqa: E402

HORIZONS = (1, 4, 8, 16)
SHOWN = {  # label: shipped model
    "l1 + GDL, 100k steps": "l1_gdl_long",
    "adversarial + GDL, 100k steps": "adv_gdl_long",
    "l1 + GDL": "l1_gdl",
    "adversarial + GDL": "adv_gdl",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/predictions"), help="without suffix")
    parser.add_argument("--seed", type=int, default=0, help="the recording's seed")
    parser.add_argument("--frames", type=int, default=60, help="frames of the test episode")
    parser.add_argument("--window", type=int, default=0, help="which 4 + 16 frame window")
    parser.add_argument("--dpi", type=int, default=72)
    args = parser.parse_args(argv)
    recording = atari.Recording(
        train_episodes=1, test_episodes=1, frames=args.frames, seed=args.seed
    )
    data_dir = home.recording(recording, progress=False)
    depth = max(HORIZONS)
    sequences, _ = pipeline.test_sequences(data_dir / "Test", HIST_LEN, depth, per_video=8)
    window = sequences[args.window : args.window + 1]
    inputs = pipeline.stack_frames(pipeline.to_unit(window[:, :HIST_LEN]))
    predictions = {label: evaluate.rollout(pretrained.load(name), inputs, depth)[0]
                   for label, name in SHOWN.items()}  # fmt: skip
    for label, baseline in evaluate.BASELINES.items():
        predictions[label] = baseline(inputs, depth)[0]
    columns = [HIST_LEN + h - 1 for h in HORIZONS]
    rows = [window[0, columns]] + [
        np.concatenate([pipeline.to_unit(window[0, :HIST_LEN]), frames])[columns]
        for frames in predictions.values()
    ]
    figure = viz.frame_grid(rows, ["truth", *predictions], [f"t+{h}" for h in HORIZONS], height=2.2)
    with files.replacing(args.out.with_suffix(".png")) as tmp:
        figure.savefig(tmp, format="png", dpi=args.dpi)
    plt.close(figure)
    panels = [window[0]] + [
        np.concatenate([pipeline.to_unit(window[0, :HIST_LEN]), frames])
        for frames in predictions.values()
    ]
    frames = viz.side_by_side(panels, ["truth", *predictions], inputs=HIST_LEN)
    # one palette for all frames, without dithering: the predictions' few off-palette colours
    # then cost little (a GIF of evaluate.write_gifs, dithered per frame, is 2-3 times larger)
    palette = Image.fromarray(np.concatenate(list(frames), axis=0)).quantize(
        64, dither=Image.Dither.NONE
    )
    images = [
        Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames
    ]
    with files.replacing(args.out.with_suffix(".gif")) as tmp:
        images[0].save(
            tmp, format="GIF", save_all=True, append_images=images[1:],
            duration=evaluate.GIF_FRAME_MS, loop=0, optimize=True,
        )  # fmt: skip
    for suffix in (".gif", ".png"):
        path = args.out.with_suffix(suffix)
        print(f"{path}: {path.stat().st_size:,} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
