"""Score the study's kept generators and the baselines on a fresh recording, one whose seed no
training used, as the study scores its test set (windows of 4 + 16 frames, per-episode means).

    python tools/score_fresh.py OUT.json RUN [RUN ...] [--seed 11] [--episodes 6] [--study DIR]

RUN: a run name with weights in DIR/weights/ (its config from DIR/runs/; DIR is docs/study
unless --study names another study's output folder), pretrained:NAME, or a checkpoint
(runs/<name>/checkpoints/ckpt-<step>, its run's config.json beside it), to follow a run
along its training. Records
`data/mspacman-fresh-s<seed>` (test episodes only) if missing. Writes
{predictor: {metric: {region or sprite group: per-episode (episodes, 16) lists}}} to OUT.json
and prints mean placed / mass for the player and ghosts, and moving-area PSNR, per horizon.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from avgkit import config, evaluate, files, models, pretrained, study
from avgkit.data import atari

STUDY = Path("docs/study")
SHOWN = (1, 4, 8, 16)


def generator_of(run: str, study_dir: Path = STUDY):
    """The generator of pretrained:NAME, of a checkpoint prefix, or of a run kept in
    `study_dir` (runs/, weights/)."""
    if run.startswith(pretrained.PREFIX) or Path(f"{run}.index").exists():
        return evaluate.load_generator(run)
    saved = json.loads((study_dir / "runs" / f"{run}.json").read_text())
    generator = models.build_generator(config.from_dict(saved["config"]))
    pretrained.load_weights(generator, study_dir / "weights" / f"{run}.npz")
    return generator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--episodes", type=int, default=6)
    parser.add_argument("--study", type=Path, default=STUDY, help="where the runs are kept")
    args = parser.parse_args(argv)
    recording = atari.Recording(
        train_episodes=0, test_episodes=args.episodes, frames=2000, seed=args.seed
    )
    test_dir = atari.record(f"data/mspacman-fresh-s{args.seed}", recording, progress=False) / "Test"
    settings = study.Settings()
    found = json.loads(args.out.read_text()) if args.out.exists() else {}
    settings_made = {**dataclasses.asdict(recording), "hold": list(recording.hold)}
    if found.get("recording", settings_made) != settings_made:
        print(f"{args.out}: scored on another recording ({found['recording']}); choose another OUT")
        return 2
    found["recording"] = settings_made
    for name in [*evaluate.BASELINES, *args.runs]:
        if name not in found:  # scored once: rerun to add predictors
            predict = evaluate.BASELINES.get(name)
            if predict is None:
                generator = generator_of(name, args.study)
                predict = study.rollout_predictor(generator, test_dir, settings)
            found[name] = study.episode_scores(predict, test_dir, settings)
            files.write_json(args.out, found, indent=1)
        print(f"{name:24}", _line(found[name]), flush=True)
    return 0


def _line(scores: dict) -> str:
    """Mean over episodes at SHOWN horizons: player placed, ghosts placed, moving PSNR."""
    parts = []
    for label, table in (
        ("player placed", scores["sprite_placed"]["player"]),
        ("ghosts placed", scores["sprite_placed"]["ghosts"]),
        ("player mass", scores["sprite_mass"]["player"]),
        ("moving PSNR", scores["psnr"]["moving"]),
    ):
        means = np.nanmean(np.array(table, float), axis=0)
        parts.append(f"{label} " + " ".join(f"{means[h - 1]:.2f}" for h in SHOWN))
    return " | ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
