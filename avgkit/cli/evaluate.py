"""`avgkit evaluate`: score checkpoints and baselines horizon by horizon."""

from __future__ import annotations

from pathlib import Path

from avgkit import config
from avgkit.cli.flags import command, flag


def add_evaluate_parser(commands) -> None:
    """`avgkit evaluate` and its flags."""
    parser = command(
        commands, "evaluate", run_evaluate, "Score checkpoints and baselines horizon by horizon."
    )
    flag(
        parser,
        "-l",
        "--load_path",
        nargs="+",
        default=[],
        metavar="PATH",
        help="checkpoints, checkpoints folders or run folders; each labelled by its run's name",
    )
    flag(
        parser,
        "-t",
        "--test_dir",
        default="data/mspacman/Test",
        help="folder of test videos (default data/mspacman/Test)",
    )
    flag(
        parser,
        "-r",
        "--recursions",
        type=int,
        default=64,
        help="frames predicted recursively, the last horizon scored (default 64)",
    )
    flag(
        parser,
        "-n",
        "--name",
        default="evaluation",
        help="results go to <runs_dir>/<name> (default evaluation)",
    )
    flag(
        parser,
        None,
        "--baselines",
        action="store_true",
        help="also score copy_last (the last input frame) and flow (constant optical flow)",
    )
    flag(
        parser,
        None,
        "--preset",
        choices=sorted(config.PRESETS),
        help="the preset the checkpoints must be of (default: each one's config.json)",
    )
    flag(
        parser,
        None,
        "--batch_size",
        type=int,
        default=8,
        help="sequences predicted at a time (default 8)",
    )
    flag(
        parser,
        None,
        "--sequences_per_video",
        type=int,
        default=1,
        help="non-overlapping test sequences taken from the start of each test video (default 1)",
    )
    flag(
        parser,
        None,
        "--save_predictions",
        action="store_true",
        help="also write every predictor's frames and the truth to results/predictions.npz",
    )
    flag(parser, None, "--runs_dir", help="default $AVGKIT_HOME, else runs/")


def run_evaluate(args) -> None:
    from avgkit import evaluate, home

    out_dir = Path(args.runs_dir or home.home()) / args.name
    results = evaluate.evaluate(
        out_dir,
        args.test_dir,
        args.load_path,
        recursions=args.recursions,
        baselines=args.baselines,
        config=config.preset(args.preset) if args.preset else None,
        batch_size=args.batch_size,
        per_video=args.sequences_per_video,
        save_predictions=args.save_predictions,
    )
    print(results.table())
    images = out_dir / "images" / "evaluate"
    print(f"evaluation {args.name}: results in {out_dir / 'results'}, GIFs in {images}")
    if args.save_predictions:
        print(f"predictions in {out_dir / 'results' / 'predictions.npz'}")
