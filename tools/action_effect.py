"""How far the joystick moves Ms. Pac-Man inside an action-conditioned generator: from each test
window's history, hold LEFT and RIGHT (and UP and DOWN) for `steps` frames and measure how far
apart she ends up (her yellow's centre, `avgkit.play.player_position`), in pixels.

    python tools/action_effect.py RUN [--steps 4] [--windows 32] [--study docs/study]

RUN: a run name with weights in <study>/weights/, or pretrained:NAME. A model that ignores
the actions scores 0; in the game, two opposite holds in an open corridor part by about twice
her speed (median 2.4 px a frame in the study's test episodes) times the steps.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from avgkit import play
from avgkit.data import pipeline

OPPOSITES = (("LEFT", "RIGHT"), ("UP", "DOWN"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--windows", type=int, default=32)
    parser.add_argument("--test_dir", default="data/mspacman-study/Test")
    parser.add_argument("--study", type=Path, default=Path("docs/study"), help="where RUN is kept")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).parent))
    from score_fresh import generator_of

    generator = generator_of(args.run, args.study)
    hist_len = generator.config.hist_len
    sequences, _ = pipeline.test_sequences(args.test_dir, hist_len, 1, per_video=8)
    step = max(1, len(sequences) // args.windows)
    apart = {pair: [] for pair in OPPOSITES}
    for history in sequences[::step, :hist_len][: args.windows]:
        for pair in OPPOSITES:
            ends = [
                play.player_position(
                    play.rollout(generator, history, args.steps, [a] * args.steps)[-1]
                )
                for a in pair
            ]
            if all(end is not None for end in ends):
                apart[pair].append(float(np.linalg.norm(ends[0] - ends[1])))
    for pair, distances in apart.items():
        print(
            f"{args.run}: {pair[0]} x{args.steps} against {pair[1]} x{args.steps}: her positions "
            f"{np.mean(distances):.2f} px apart (median {np.median(distances):.2f}, "
            f"{len(distances)} windows where both show her)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
