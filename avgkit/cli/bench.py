"""`avgkit bench`: clip processing, training and rollouts timed against TF1."""

from __future__ import annotations

import dataclasses

from avgkit import config
from avgkit.cli.flags import command, flag, positive


def add_bench_parser(commands) -> None:
    """`avgkit bench` and its flags."""
    parser = command(
        commands,
        "bench",
        run_bench,
        "Time clip processing, training and rollouts against TF1; writes JSON.",
    )
    flag(parser, None, "--out", default="runs/bench", help="folder for bench.json and its data")
    flag(
        parser,
        None,
        "--only",
        nargs="+",
        choices=["process", "train", "rollout"],
        default=["process", "train", "rollout"],
        help="sections to run; bench.json keeps the others' figures (default: all three)",
    )
    flag(
        parser,
        None,
        "--presets",
        nargs="+",
        choices=sorted(config.PRESETS),
        default=["tiny", "small", "official", "paper"],
        help="presets of the train and rollout sections (default tiny small official paper)",
    )
    flag(
        parser,
        None,
        "--quick",
        action="store_true",
        help="a smoke run: fewer clips, rounds and loss steps, shorter rollouts",
    )
    flag(
        parser,
        None,
        "--clips",
        type=positive,
        help="clips for avgkit process (default 100000; 10000 with --quick)",
    )
    flag(
        parser,
        None,
        "--tf1_clips",
        type=positive,
        help="clips for the TF1 approach (default 3000; 300 with --quick)",
    )
    flag(
        parser,
        None,
        "--full",
        action="store_true",
        help="also process 5,000,000 clips for real (about 5 minutes here)",
    )
    flag(
        parser,
        None,
        "--loss_steps",
        type=positive,
        help="steps of the float32 and mixed loss curves (default 300; 20 with --quick)",
    )
    flag(
        parser,
        None,
        "--loss_preset",
        choices=sorted(config.PRESETS),
        default="official",
        help="preset of the float32 and mixed loss curves (default official, the study's)",
    )


def run_bench(args) -> None:
    from avgkit import bench

    sizes = bench.QUICK if args.quick else bench.FULL
    if args.loss_steps is not None:
        sizes = dataclasses.replace(sizes, loss_steps=args.loss_steps)
    quick = {"clips": 10_000, "tf1_clips": 300} if args.quick else {}
    bench.run(
        args.out,
        clips=args.clips or quick.get("clips", 100_000),
        tf1_clips=args.tf1_clips or quick.get("tf1_clips", 3_000),
        full=args.full,
        sections=tuple(args.only),
        presets=tuple(args.presets),
        sizes=sizes,
        loss_preset=args.loss_preset,
    )
