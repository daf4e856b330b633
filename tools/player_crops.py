"""An experiment on the action-conditioned models: clips in which half the crops hold Ms. Pac-Man.

A constant action plane can only matter where the player is, and the study's clips (the TF1
movement rule) hold her in about a quarter of their crops. This cuts a clips folder where, for
half the clips, the 32x32 crop is placed so that her yellow in the last history frame lies
6-26 px into it; the other half are cut by the usual rule. Then train on it as the study does
(its fine-tunes start from the long run's weights, so copy them beside the results):

    python tools/player_crops.py data/mspacman-player      # links Train, Test; cuts clips
    mkdir -p runs/player_study/weights
    cp docs/study/weights/long-l1_gdl-s0.npz docs/study/baselines.json runs/player_study/
    mv runs/player_study/long-l1_gdl-s0.npz runs/player_study/weights/
    avgkit study --data data/mspacman-player --out runs/player_study \\
        --seeds 0 --variants actions_fast no_actions_fast

For the rollout-trained pair (3 frames in a row), cut 7-frame clips first:
`python tools/player_crops.py data/mspacman-player --clip_length 7`, then
`--variants actions_rollout no_actions_rollout`.

It replaces `clips.crop_clips` in this process only (one worker), so avgkit itself is unchanged.
Results of that run: docs/study/player_crops/, and docs/study.md ("The player's actions").
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

from avgkit import play
from avgkit.data import clips

SHARE = 0.5  # the share of clips whose crop is placed on her
MARGIN = 6  # her centre lies at least this far inside the crop
SURE = 14  # RGB distance: pixels this near her colour are hers (her lives' colour is 28 away)
LEAST = 10  # pixels of her that must show for a crop to be placed on her
movement_rule = clips.crop_clips


def crop_on_player(frames, starts, rng, spec=clips.ClipSpec()):
    """`clips.crop_clips`, with a SHARE of the crops moved onto Ms. Pac-Man where she shows
    (at least LEAST pixels within SURE of her colour); their movement scores are recomputed."""
    cut, scores, unfiltered = movement_rule(frames, starts, rng, spec)
    size, height, width = spec.crop_size, frames.shape[1], frames.shape[2]
    chosen, ys, xs = [], [], []
    for i in np.flatnonzero(rng.random(len(starts)) < SHARE):
        where = play.player_position(frames[starts[i] + spec.hist_len - 1], SURE, LEAST)
        if where is None:
            continue
        dy, dx = rng.integers(MARGIN, size - MARGIN, 2)
        chosen.append(i)
        ys.append(int(np.clip(round(where[0]) - dy, 0, height - size)))
        xs.append(int(np.clip(round(where[1]) - dx, 0, width - size)))
    if chosen:
        chosen = np.array(chosen)
        ys, xs = np.array(ys), np.array(xs)
        cut[chosen] = clips._cut(frames, starts[chosen], ys, xs, size, spec.clip_frames)
        one_step = 3 * (spec.hist_len + 1)  # the frames the movement rule looks at
        scores[chosen] = [
            clips.movement_score(c[..., :one_step], spec.hist_len) for c in cut[chosen]
        ]
    return cut, scores, unfiltered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the data folder to make")
    parser.add_argument("--study_data", type=Path, default=Path("data/mspacman-study"))
    parser.add_argument("-n", "--num_clips", type=int, default=200_000)
    parser.add_argument(
        "--clip_length",
        type=int,
        default=5,
        help="frames a clip holds: 5 for one-step "
        "training (into clips/), 4 + K for K-step rollouts (into clips-<length>/, as the study's)",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for part in ("Train", "Test"):
        if not (args.out / part).exists():
            (args.out / part).symlink_to((args.study_data / part).resolve())
    shutil.copyfile(args.study_data / "recording.json", args.out / "recording.json")
    clips.crop_clips = crop_on_player
    spec = clips.ClipSpec(clip_length=args.clip_length)
    name = "clips" if args.clip_length == spec.hist_len + 1 else f"clips-{args.clip_length}"
    summary = clips.process(
        args.out / "Train", args.out / name, args.num_clips, workers=1, spec=spec
    )
    print(summary.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
