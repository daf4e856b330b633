"""Where a generator puts Ms. Pac-Man against where she really goes, horizon by horizon, on the
study's test windows of a recording (4 + 16 frames, up to 8 a test episode): her centre
(`avgkit.play.player_position`) in each predicted frame against the truth's.

    python tools/player_error.py RUN [RUN ...] [--test_dir data/mspacman-fresh-s11/Test]
        [--study docs/study/player_crops]

RUN: a run name with weights in <study>/weights/, pretrained:NAME, or a baseline (copy_last,
flow). An action-conditioned generator is fed the actions recorded towards each frame it
predicts (`avgkit.study.rollout_predictor`). Per
horizon it prints: `shown`, the share of windows whose prediction shows her at all (where the
truth does); `error`, the median distance in pixels between the predicted and true centres;
`way`, among windows where she really moved at least MIN_MOVE pixels from the last input frame
and the prediction shows her, the share whose predicted move points the same way (a positive
dot product); `length`, the median of the predicted move's length over the real one's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from avgkit import config, evaluate, play, study
from avgkit.data import pipeline
from avgkit.data.frames import to_uint8

sys.path.insert(0, str(Path(__file__).parent))
from score_fresh import generator_of  # noqa: E402

HORIZONS = (1, 4, 8, 16)
SETTINGS = study.Settings()  # the study's windows: 8 a test episode, 16 frames deep
MIN_MOVE = 4.0  # pixels: a shorter real move has no direction to match


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--test_dir", type=Path, default=Path("data/mspacman-fresh-s11/Test"))
    parser.add_argument("--study", type=Path, default=Path("docs/study/player_crops"))
    args = parser.parse_args(argv)
    hist_len = config.HIST_LEN
    windows, _ = pipeline.test_sequences(
        args.test_dir, hist_len, SETTINGS.recursions, SETTINGS.windows_per_episode
    )
    truth = windows[:, hist_len:]
    start = [play.player_position(frame) for frame in windows[:, hist_len - 1]]
    for run in args.runs:
        predicted = predictions(run, windows, args.test_dir, args.study)
        print(f"{run} ({len(windows)} windows)")
        for h in HORIZONS:
            print(f"  t+{h:<2} " + horizon_line(start, truth[:, h - 1], predicted[:, h - 1]))
    return 0


def predictions(run: str, windows: np.ndarray, test_dir: Path, study_dir: Path) -> np.ndarray:
    """uint8 (windows, recursions, H, W, 3): the run's rollout of each window's history."""
    predict = evaluate.BASELINES.get(run)
    if predict is None:
        predict = study.rollout_predictor(generator_of(run, study_dir), test_dir, SETTINGS)
    inputs = pipeline.stack_frames(pipeline.to_unit(windows[:, : config.HIST_LEN]))
    return to_uint8(predict(inputs, SETTINGS.recursions))


def horizon_line(start: list, truth: np.ndarray, predicted: np.ndarray) -> str:
    """shown / error / way / length at one horizon (see the module's docstring)."""
    shown, errors, ways, lengths, present = 0, [], [], [], 0
    for origin, true_frame, frame in zip(start, truth, predicted, strict=True):
        real = play.player_position(true_frame)
        if real is None:
            continue
        present += 1
        guess = play.player_position(frame)
        if guess is None:
            continue
        shown += 1
        errors.append(float(np.linalg.norm(guess - real)))
        if origin is None:
            continue
        move, guessed_move = real - origin, guess - origin
        if np.linalg.norm(move) >= MIN_MOVE:
            ways.append(float(np.dot(move, guessed_move)) > 0)
            lengths.append(float(np.linalg.norm(guessed_move) / np.linalg.norm(move)))
    return (
        f"shown {shown / max(present, 1):.2f}  error {np.median(errors):5.1f} px  "
        f"way {np.mean(ways):.2f}  length {np.median(lengths):.2f}  (moved: {len(ways)})"
    )


if __name__ == "__main__":
    sys.exit(main())
