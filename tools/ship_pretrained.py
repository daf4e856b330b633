"""Rebuild the models shipped in avgkit/pretrained/ from the study's results (`make pretrained`).

For each shipped model (l1_gdl and adv_gdl, of the main recipe; l1_gdl_long, l1 + GDL trained ten
times longer; adv_gdl_long, its adversarial twin with D held back; actions, the rollout
fine-tune fed the player's actions on clips moved to her turns) it takes the best run of its
study folder (`study_summary.best_run`: PSNR over horizons 1-8, whole frame and moving areas
averaged; for actions, Ms. Pac-Man placed over horizons 1-8, the measure it was trained for),
copies its float16 G weights, its config.json, and writes provenance.json: the command, the study
folder, steps, seed, recording, CPU, date, the study's scores, and how far the float16 weights
move those scores (re-scored here on the study's test windows).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from avgkit import config, files, models, pretrained, study, study_summary

REPORTED = (1, 4, 8, 16)  # horizons whose scores the provenance lists (those the study scored)


class Shipped(NamedTuple):
    """Where a shipped model comes from: a folder under the study's (its runs/, weights/ and
    summary.json; its own study.json if it has one), the loss ("*": any), the variants, how the
    best run is chosen, and, when its clips are not the study's, their data folder and the
    commands to run before its `avgkit study` (cut the clips, copy the weights it starts from)."""

    folder: str
    loss: str
    variants: tuple
    by: Callable = study_summary.psnr_1_to_8
    data: str | None = None
    prepare: tuple = ()


SHIPPED = {
    "l1_gdl": Shipped("", "l1_gdl", ("main",)),
    "adv_gdl": Shipped("", "adv_gdl", ("main",)),
    "l1_gdl_long": Shipped("", "l1_gdl", ("long",)),
    "adv_gdl_long": Shipped("", "adv_gdl", ("long_capped_mixed",)),
    "actions": Shipped(
        "player_events",
        "*",
        ("actions_rollout",),
        study_summary.player_placed_1_to_8,
        "data/mspacman-events",
        (
            "python tools/player_crops.py data/mspacman-events --clip_length 7 -n 100000 "
            "--events 0.5",
            "mkdir -p docs/study/player_events/weights && cp docs/study/weights/long-l1_gdl-s0.npz "
            "docs/study/player_events/weights/",
        ),
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--data", type=Path, default=Path("data/mspacman-study"))
    parser.add_argument(
        "--only",
        nargs="+",
        choices=sorted(SHIPPED),
        default=sorted(SHIPPED),
        help="rebuild just these shipped models (default: all)",
    )
    args = parser.parse_args(argv)
    needed = [args.study_dir / "summary.json", args.study_dir / "study.json", args.data / "Test"]
    missing = [path for path in needed if not path.exists()]
    if missing:
        print(f"make pretrained: {missing[0]} is missing; run `make study` first", file=sys.stderr)
        return 2
    for shipped in args.only:
        source = SHIPPED[shipped]
        results = args.study_dir / source.folder
        if not (results / "summary.json").exists():
            print(f"make pretrained: {results / 'summary.json'} is missing", file=sys.stderr)
            return 2
        own = results / "study.json"
        plan = json.loads((own if own.exists() else args.study_dir / "study.json").read_text())
        settings = study.Settings(**plan["settings"])
        summary = json.loads((results / "summary.json").read_text())
        best = study_summary.best_run(
            summary, summary["runs"], source.loss, source.variants, source.by
        )
        if best is None:
            print(f"no finished {source.loss} run of {source.variants} in {results}; no {shipped}")
            continue
        _ship(shipped, source, results, best, summary, plan, settings, args)
    return 0


def _ship(shipped, source, results, name, summary, plan, settings, args) -> None:
    run = json.loads((results / "runs" / f"{name}.json").read_text())
    folder = args.out / shipped
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(results / "weights" / f"{name}.npz", folder / "weights.npz")
    config.from_dict(run["config"]).save(folder / "config.json")
    generator = models.build_generator(config.load(folder / "config.json"))
    pretrained.load_weights(generator, folder / "weights.npz")
    means = summary["means"][name]
    reported = [h for h in REPORTED if h <= settings.recursions]
    shift = None  # a recovered run's scores are the float16 weights' own: nothing to compare
    if "recovered" not in run:
        predict = study.rollout_predictor(generator, args.data / "Test", settings)
        float16 = study.episode_scores(predict, args.data / "Test", settings)
        moving = np.nanmean(np.array(float16["psnr"]["moving"], float), axis=0)[0]
        shift = round(float(moving - means["psnr"]["moving"][0]), 4)
    provenance = {
        "name": f"{pretrained.PREFIX}{shipped}",
        "study_run": name,
        "command": _command(run, source, results),
        **({"prepare": list(source.prepare)} if source.prepare else {}),
        "study": results.as_posix(),
        "steps": run["steps"],
        "seed": run["seed"],
        "loss": run["loss"],
        **_started_from(run),
        "recording": plan["recording"],
        "machine": run["machine"],
        "date": run["date"],
        **({"recovered": run["recovered"]} if "recovered" in run else {}),
        "scores": {
            metric: {
                region: {f"t+{h}": means[metric][region][h - 1] for h in reported}
                for region in ("whole", "moving")
            }
            for metric in means
            if not metric.startswith("sprite_")
        }
        | {
            metric: {
                group: {f"t+{h}": means[metric][group][h - 1] for h in reported}
                for group in means[metric]
            }
            for metric in means
            if metric.startswith("sprite_")
        },
        "against_baselines_t1": {
            baseline: {
                region: {
                    key: summary["against_baselines"][name][baseline]["psnr"][region][key][0]
                    for key in ("mean", "ci_low", "ci_high", "n")
                }
                for region in ("whole", "moving")
            }
            for baseline in ("copy_last", "flow")
        },
        "float16_moving_psnr_t1_shift_db": shift,
    }
    files.write_json(folder / "provenance.json", provenance, indent=1)
    print(f"shipped {name} as {pretrained.PREFIX}{shipped} (float16 moves PSNR t+1 by {shift} dB)")


def _command(run: dict, source: Shipped, results: Path) -> str:
    """The `avgkit study` command that trains and scores `run`."""
    where = ""
    if source.data:
        where = f"--data {source.data} --out {results.as_posix()} --work runs/{results.name} "
    if run["variant"] == "main":
        return f"avgkit study {where}--steps {run['steps']} --only {run['name']}"
    return (
        f"avgkit study {where}--seeds {run['seed']} --variants {run['variant']} "
        f"--only {run['name']}"
    )


def _started_from(run: dict) -> dict:
    """{"init": ...} for a run whose G started from the kept weights of another."""
    init = study.Run(run["loss"], run["seed"], run["variant"]).init
    return {"init": f"G started from the study's weights of {init}"} if init else {}


if __name__ == "__main__":
    sys.exit(main())
