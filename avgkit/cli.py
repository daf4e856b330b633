"""The `avgkit` command: `avgkit record | import-video | process | bench | train | evaluate |
study`.

Flags keep the names of the TF1 implementation (`-n/--num_clips`, `-t/--train_dir`, ...); every
long flag is accepted with underscores or hyphens, and `-H` works as well as `-h`. Bad input ends
with one line naming the file or flag (exit code 2), never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from avgkit import config
from avgkit.data.atari import START_SKIP
from avgkit.errors import AvgkitError


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except AvgkitError as error:
        print(f"avgkit {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"avgkit {args.command}: interrupted; finished work is kept, rerun to continue",
            file=sys.stderr,
        )
        return 130
    return 0


def run_record(args) -> None:
    from avgkit.data import atari

    recording = atari.Recording(
        game=args.game,
        train_episodes=args.train_episodes,
        test_episodes=args.test_episodes,
        frames=args.frames,
        frameskip=args.frameskip,
        combine=args.combine,
        start_skip=args.start_skip,
        seed=args.seed,
    )
    out = args.out or f"data/{args.game.lower()}"
    atari.record(out, recording)
    print(f"recorded {args.game} into {out}/Train and {out}/Test")


def run_import_video(args) -> None:
    from avgkit.data import video

    resize = _size(args.resize) if args.resize else None
    folders = video.import_videos(args.videos, args.out, args.stride, resize, args.test_every)
    print(f"imported {len(folders)} videos into {args.out}/Train and {args.out}/Test")


def run_process(args) -> None:
    from avgkit.data import clips

    summary = clips.process(
        args.train_dir,
        args.clips_dir,
        args.num_clips,
        seed=args.seed,
        workers=args.workers,
        overwrite=args.overwrite,
    )
    print(summary.line())


def run_bench(args) -> None:
    from avgkit import bench, bench_train

    sizes = bench_train.QUICK if args.quick else bench_train.FULL
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


def run_train(args) -> None:
    from avgkit import home, train

    run_dir = Path(args.runs_dir or home.home()) / args.name
    run_config = _train_config(args, run_dir)
    test_dir = args.test_dir or _sibling_test_dir(args.clips_dir)
    if args.test_only:
        if test_dir is None:
            raise AvgkitError("-T/--test_only needs test frames: pass -t/--test_dir")
        train.test(run_dir, test_dir, args.recursions, args.load_path, run_config)
        return
    if test_dir is None:
        print("no -t/--test_dir (and no Test/ beside the clips' Train/): no full-frame tests")
    frequencies = train.Frequencies(
        stats=args.stats_freq,
        summary=args.summary_freq,
        images=args.img_save_freq,
        test=args.test_freq,
        save=args.model_save_freq,
    )
    train.train(
        run_config,
        args.clips_dir,
        run_dir,
        args.steps,
        adversarial=_adversarial(args, run_config),
        seed=args.seed,
        load_path=args.load_path,
        overwrite=args.overwrite,
        test_dir=test_dir,
        recursions=args.recursions,
        frequencies=frequencies,
        precision="mixed" if args.mixed_precision else "float32",
        jit_compile=args.jit_compile,
    )
    print(f"run {args.name}: checkpoints, summaries, images and results in {run_dir}")


def _train_config(args, run_dir: Path):
    """The preset (`_train_preset`) with the --loss of the paper's ablation, else with the loss
    of the run being resumed."""
    preset = _train_preset(args, run_dir)
    saved = run_dir / "config.json"
    loss = args.loss or (config.load(saved).loss if saved.exists() else None)
    return config.with_loss(preset, loss) if loss else preset


def _adversarial(args, run_config) -> bool:
    """-a, unless the config is a row of the ablation (config.LOSSES), which decides; -a f with
    an adversarial row is an error."""
    if run_config.loss is None:
        return args.adversarial
    adversarial = config.LOSSES[run_config.loss].adversarial
    if adversarial and not args.adversarial:
        alone = ", ".join(name for name, loss in config.LOSSES.items() if not loss.adversarial)
        raise AvgkitError(
            f"-a/--adversarial f: loss {run_config.loss!r} trains adversarially; for G alone "
            f"choose --loss {alone}"
        )
    return adversarial


def _train_preset(args, run_dir: Path):
    """--preset, else the preset of the run being resumed or of the -l checkpoint, else paper."""
    from avgkit import train

    if args.preset:
        return config.preset(args.preset)
    if (run_dir / "config.json").exists():
        return config.preset(config.load(run_dir / "config.json").name)
    if args.load_path:
        saved = train.config_beside(train.resolve_checkpoint(args.load_path))
        if saved is not None:
            return config.preset(saved.name)
    return config.preset("paper")


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
    )
    print(results.table())
    images = out_dir / "images" / "evaluate"
    print(f"evaluation {args.name}: results in {out_dir / 'results'}, GIFs in {images}")


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
    path = study_summary.summarize(args.out, Path(args.data) / "Test", settings)
    print(f"study: summary in {path}")


def _sibling_test_dir(clips_dir: str) -> Path | None:
    """Test/ beside the Train/ folder the clips were cut from (as `avgkit record` lays them)."""
    from avgkit.data import clips

    try:
        source = Path(clips.read_manifest(clips_dir)["source"])
    except (AvgkitError, KeyError):
        return None
    test_dir = source.parent / "Test"
    return test_dir if test_dir.is_dir() else None


def _parser() -> argparse.ArgumentParser:
    parser = _new(argparse.ArgumentParser, prog="avgkit", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, run, help_text):
        sub = _new(commands.add_parser, name, help=help_text, description=help_text)
        sub.set_defaults(run=run)
        return sub

    record = command("record", run_record, "Record Atari episodes into Train/ and Test/ folders.")
    _flag(record, None, "--game", default="MsPacman", help="ALE game name (default MsPacman)")
    _flag(record, None, "--out", help="output folder (default data/<game in lower case>)")
    _flag(record, None, "--train-episodes", type=int, default=20, help="default 20")
    _flag(record, None, "--test-episodes", type=int, default=4, help="default 4")
    _flag(
        record,
        None,
        "--frames",
        type=int,
        default=1000,
        help="recorded frames per episode at most; game over ends it sooner (default 1000)",
    )
    _flag(
        record,
        None,
        "--frameskip",
        type=int,
        default=4,
        help="emulator frames per recorded frame (default 4)",
    )
    _flag(
        record,
        None,
        "--combine",
        type=int,
        default=6,
        help="emulator frames combined into one recorded frame, against flicker (default 6)",
    )
    _flag(
        record,
        None,
        "--start-skip",
        type=int,
        default=START_SKIP,
        help=f"emulator frames skipped after each reset: Ms. Pac-Man's start-up tune, when "
        f"nothing moves (default {START_SKIP})",
    )
    _flag(record, None, "--seed", type=int, default=0, help="default 0")

    imp = command("import-video", run_import_video, "Import video files as frame folders.")
    imp.add_argument("videos", nargs="+", help="video files, or folders searched for videos")
    _flag(imp, None, "--out", required=True, help="output folder (gets Train/ and Test/)")
    _flag(imp, None, "--stride", type=int, default=1, help="keep every n-th frame (default 1)")
    _flag(imp, None, "--resize", help="WIDTHxHEIGHT, e.g. 160x120 (default: keep the size)")
    _flag(
        imp,
        None,
        "--test-every",
        type=int,
        default=5,
        help="every n-th video goes to Test/, 0 for none (default 5)",
    )

    process = command("process", run_process, "Cut training clips from frame folders.")
    _flag(
        process,
        "-n",
        "--num_clips",
        type=int,
        default=5_000_000,
        help="number of clips (default 5000000)",
    )
    _flag(
        process,
        "-t",
        "--train_dir",
        default="data/mspacman/Train",
        help="folder of training videos (default data/mspacman/Train)",
    )
    _flag(
        process,
        "-c",
        "--clips_dir",
        default="data/mspacman/clips",
        help="where the clip shards go (default data/mspacman/clips)",
    )
    _flag(process, "-o", "--overwrite", action="store_true", help="replace existing clips")
    _flag(process, None, "--seed", type=int, default=0, help="default 0")
    _flag(
        process,
        None,
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: one per core)",
    )

    bench = command(
        "bench", run_bench, "Time clip processing, training and rollouts against TF1; writes JSON."
    )
    _flag(bench, None, "--out", default="runs/bench", help="folder for bench.json and its data")
    _flag(
        bench,
        None,
        "--only",
        nargs="+",
        choices=["process", "train", "rollout"],
        default=["process", "train", "rollout"],
        help="sections to run; bench.json keeps the others' figures (default: all three)",
    )
    _flag(
        bench,
        None,
        "--presets",
        nargs="+",
        choices=sorted(config.PRESETS),
        default=["tiny", "small", "paper"],
        help="presets of the train and rollout sections (default tiny small paper)",
    )
    _flag(
        bench,
        None,
        "--quick",
        action="store_true",
        help="a smoke run: fewer clips, rounds and loss steps, shorter rollouts",
    )
    _flag(
        bench,
        None,
        "--clips",
        type=_positive,
        help="clips for avgkit process (default 100000; 10000 with --quick)",
    )
    _flag(
        bench,
        None,
        "--tf1_clips",
        type=_positive,
        help="clips for the TF1 approach (default 3000; 300 with --quick)",
    )
    _flag(
        bench,
        None,
        "--full",
        action="store_true",
        help="also process 5,000,000 clips for real (about 5 minutes here)",
    )
    _flag(
        bench,
        None,
        "--loss_steps",
        type=_positive,
        help="steps of the float32 and mixed loss curves (default 300; 20 with --quick)",
    )
    _flag(
        bench,
        None,
        "--loss_preset",
        choices=sorted(config.PRESETS),
        default="small",
        help="preset of the loss curves (default small)",
    )

    train = command("train", run_train, "Train the generator (and discriminator) on clips.")
    _flag(train, "-l", "--load_path", help="start from this checkpoint, checkpoints or run folder")
    _flag(
        train,
        "-t",
        "--test_dir",
        help="frame folders for the full-frame test (default: Test/ beside the clips' Train/)",
    )
    _flag(
        train,
        "-r",
        "--recursions",
        type=int,
        default=1,
        help="frames predicted recursively in the test (default 1)",
    )
    _flag(
        train,
        "-a",
        "--adversarial",
        type=_true_false,
        default=True,
        metavar="{t,f}",
        help="t: adversarial training as the paper; f: Lp + GDL only (default t)",
    )
    _flag(
        train,
        "-n",
        "--name",
        default="default",
        help="the run: <runs_dir>/<name> (default default)",
    )
    _flag(train, "-O", "--overwrite", action="store_true", help="delete the named run first")
    _flag(train, "-T", "--test_only", action="store_true", help="only test the latest checkpoint")
    for name, default, what in (
        ("--stats_freq", 10, "print loss and error stats"),
        ("--summary_freq", 100, "write TensorBoard summaries"),
        ("--img_save_freq", 1000, "save images of a fixed batch"),
        ("--test_freq", 5000, "test on full frames"),
        ("--model_save_freq", 10000, "save a checkpoint"),
    ):
        _flag(
            train,
            None,
            name,
            type=int,
            default=default,
            help=f"{what} every n steps (default {default})",
        )
    _flag(
        train,
        "-c",
        "--clips_dir",
        default="data/mspacman/clips",
        help="clip shards from `avgkit process` (default data/mspacman/clips)",
    )
    _flag(
        train,
        None,
        "--preset",
        choices=sorted(config.PRESETS),
        help="model size (default: the run's own when resuming, else paper)",
    )
    _flag(
        train,
        None,
        "--steps",
        type=int,
        default=1_000_000,
        help="total steps to reach; a resumed run stops there too (default 1000000)",
    )
    _flag(
        train, None, "--seed", type=int, default=0, help="initial weights and batches (default 0)"
    )
    _flag(train, None, "--runs_dir", help="where runs go (default $AVGKIT_HOME, else runs/)")
    _flag(
        train,
        None,
        "--mixed_precision",
        action="store_true",
        help="bfloat16 on a CPU, float16 on a GPU (fast only where the hardware has them)",
    )
    _flag(
        train,
        None,
        "--jit_compile",
        action="store_true",
        help="XLA for the discriminator's update (the generator's has no XLA kernel)",
    )
    _flag(
        train,
        None,
        "--loss",
        choices=list(config.LOSSES),
        help="a loss of the paper's ablation (its Table 1): l2, l1, l1_gdl train G alone, adv "
        "(l2 + adversarial) and adv_gdl (l1 + GDL + adversarial) with D; sets l_num, lam_gdl, "
        "lam_adv and -a (default: the preset's l1 + GDL + adversarial, or the resumed run's)",
    )

    evaluate = command(
        "evaluate", run_evaluate, "Score checkpoints and baselines horizon by horizon."
    )
    _flag(
        evaluate,
        "-l",
        "--load_path",
        nargs="+",
        default=[],
        metavar="PATH",
        help="checkpoints, checkpoints folders or run folders; each labelled by its run's name",
    )
    _flag(
        evaluate,
        "-t",
        "--test_dir",
        default="data/mspacman/Test",
        help="folder of test videos (default data/mspacman/Test)",
    )
    _flag(
        evaluate,
        "-r",
        "--recursions",
        type=int,
        default=64,
        help="frames predicted recursively, the last horizon scored (default 64)",
    )
    _flag(
        evaluate,
        "-n",
        "--name",
        default="evaluation",
        help="results go to <runs_dir>/<name> (default evaluation)",
    )
    _flag(
        evaluate,
        None,
        "--baselines",
        action="store_true",
        help="also score copy_last (the last input frame) and flow (constant optical flow)",
    )
    _flag(
        evaluate,
        None,
        "--preset",
        choices=sorted(config.PRESETS),
        help="the preset the checkpoints must be of (default: each one's config.json)",
    )
    _flag(
        evaluate,
        None,
        "--batch_size",
        type=int,
        default=8,
        help="sequences predicted at a time (default 8)",
    )
    _flag(
        evaluate,
        None,
        "--sequences_per_video",
        type=int,
        default=1,
        help="non-overlapping test sequences taken from the start of each test video (default 1)",
    )
    _flag(evaluate, None, "--runs_dir", help="default $AVGKIT_HOME, else runs/")

    study = command(
        "study", run_study, "The adversarial study: train and score every run of the plan."
    )
    _flag(study, None, "--out", default="docs/study", help="results to commit (default docs/study)")
    _flag(study, None, "--data", default="data/mspacman-study", help="its recording and clips")
    _flag(study, None, "--work", default="runs/study", help="run folders (default runs/study)")
    _flag(study, None, "--steps", type=_positive, help="steps a run (default 10000)")
    _flag(study, None, "--seeds", type=int, nargs="+", default=[0, 1, 2], help="default 0 1 2")
    _flag(
        study,
        None,
        "--variants",
        nargs="*",
        default=[],
        help="variants of the official recipe to run on adv_gdl with the first seed, of "
        "avgkit.study.VARIANTS (default none)",
    )
    _flag(study, None, "--only", nargs="+", help="run only these runs of the plan, in this order")
    _flag(study, None, "--summarize", action="store_true", help="only pool the finished runs' JSON")
    return parser


def _new(factory, *args, **kwargs):
    """A parser that takes -h, -H and --help."""
    parser = factory(*args, add_help=False, **kwargs)
    parser.add_argument("-h", "-H", "--help", action="help", help="show this help and exit")
    return parser


def _flag(parser, short, name, **kwargs):
    """Add a flag under its underscore and hyphen spellings (and a short one if given)."""
    spellings = {name, name.replace("_", "-"), "--" + name[2:].replace("-", "_")}
    names = ([short] if short else []) + sorted(spellings, key=lambda s: (s != name, s))
    dest = name[2:].replace("-", "_")
    parser.add_argument(*names, dest=dest, **kwargs)


def _true_false(text: str) -> bool:
    value = text.lower()
    if value in ("t", "true", "y", "yes", "1"):
        return True
    if value in ("f", "false", "n", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r}: expected t or f")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive whole number")
    return value


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise AvgkitError(f"--resize {text}: expected WIDTHxHEIGHT, e.g. 160x120") from None
    return width, height


if __name__ == "__main__":
    sys.exit(main())
