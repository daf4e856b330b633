"""`avgkit study`: the adversarial study, trained, scored and summarized."""

from __future__ import annotations

from pathlib import Path

from avgkit.cli.flags import command, flag, positive
from avgkit.errors import AvgkitError


def add_study_parser(commands) -> None:
    """`avgkit study` and its flags."""
    parser = command(
        commands,
        "study",
        run_study,
        "The adversarial study: train and score every run of the plan.",
    )
    flag(parser, None, "--out", default="docs/study", help="results to commit (default docs/study)")
    flag(parser, None, "--data", default="data/mspacman-study", help="its recording and clips")
    flag(parser, None, "--work", default="runs/study", help="run folders (default runs/study)")
    flag(parser, None, "--steps", type=positive, help="steps a run (default 10000)")
    flag(parser, None, "--seeds", type=int, nargs="+", default=[0, 1, 2], help="default 0 1 2")
    flag(
        parser,
        None,
        "--variants",
        nargs="*",
        default=[],
        help="variants of the official recipe to run with the first seed, on their losses "
        "(adv_gdl unless the variant names others), of avgkit.study.VARIANTS (default none)",
    )
    flag(parser, None, "--only", nargs="+", help="run only these runs of the plan, in this order")
    flag(
        parser,
        None,
        "--summarize",
        action="store_true",
        help="only pool the finished runs' JSON (scoring the sprites kept of runs "
        "that lack them, from their kept weights)",
    )


def run_study(args) -> None:
    from avgkit import study, study_summary

    settings = study.Settings(**({"steps": args.steps} if args.steps else {}))
    if not args.summarize:
        runs = study.plan(tuple(args.seeds), tuple(args.variants))
        if args.only:
            by_name = {run.name: run for run in runs}
            unknown = [name for name in args.only if name not in by_name]
            if unknown:
                raise AvgkitError(
                    f"--only {unknown[0]}: not a run of the plan; expected one of "
                    f"{', '.join(by_name)}"
                )
            runs = [by_name[name] for name in args.only]
        study.run_study(args.out, runs, settings, args.data, args.work)
    test_dir = Path(args.data) / "Test"
    study.add_sprite_scores(args.out, test_dir, settings, progress=True)
    path = study_summary.summarize(args.out, test_dir, settings)
    print(f"study: summary in {path}")
