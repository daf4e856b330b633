"""`avgkit train`: train G (and D) on clips, resume a run, or only test it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from avgkit import config
from avgkit.cli.flags import command, flag, true_false
from avgkit.errors import AvgkitError


def add_train_parser(commands) -> None:
    """`avgkit train` and its flags."""
    parser = command(
        commands, "train", run_train, "Train the generator (and discriminator) on clips."
    )
    flag(parser, "-l", "--load_path", help="start from this checkpoint, checkpoints or run folder")
    flag(
        parser,
        "-t",
        "--test_dir",
        help="frame folders for the full-frame test (default: Test/ beside the clips' Train/)",
    )
    flag(
        parser,
        "-r",
        "--recursions",
        type=int,
        default=1,
        help="frames predicted recursively in the test (default 1)",
    )
    flag(
        parser,
        "-a",
        "--adversarial",
        type=true_false,
        default=True,
        metavar="{t,f}",
        help="t: adversarial training as the paper; f: Lp + GDL only (default t)",
    )
    flag(
        parser,
        "-n",
        "--name",
        default="default",
        help="the run: <runs_dir>/<name> (default default)",
    )
    flag(parser, "-O", "--overwrite", action="store_true", help="delete the named run first")
    flag(parser, "-T", "--test_only", action="store_true", help="only test the latest checkpoint")
    for name, default, what in (
        ("--stats_freq", 10, "print loss and error stats"),
        ("--summary_freq", 100, "write TensorBoard summaries"),
        ("--img_save_freq", 1000, "save images of a fixed batch (the 4 most moving clips)"),
        ("--test_freq", 5000, "test on full frames"),
        ("--model_save_freq", 10000, "save a checkpoint"),
    ):
        flag(
            parser,
            None,
            name,
            type=int,
            default=default,
            help=f"{what} every n steps (default {default})",
        )
    flag(
        parser,
        "-c",
        "--clips_dir",
        default="data/mspacman/clips",
        help="clip shards from `avgkit process` (default data/mspacman/clips)",
    )
    flag(
        parser,
        None,
        "--preset",
        choices=sorted(config.PRESETS),
        help="model size (default: the run's own when resuming, else paper)",
    )
    flag(
        parser,
        None,
        "--steps",
        type=int,
        default=1_000_000,
        help="total steps to reach; a resumed run stops there too (default 1000000)",
    )
    flag(
        parser, None, "--seed", type=int, default=0, help="initial weights and batches (default 0)"
    )
    flag(parser, None, "--runs_dir", help="where runs go (default $AVGKIT_HOME, else runs/)")
    flag(
        parser,
        None,
        "--mixed_precision",
        action="store_true",
        help="bfloat16 on a CPU, float16 on a GPU (fast only where the hardware has them)",
    )
    flag(
        parser,
        None,
        "--jit_compile",
        action="store_true",
        help="XLA over the whole training step (one device only)",
    )
    flag(
        parser,
        None,
        "--rollout_steps",
        type=int,
        metavar="K",
        help="train G on K frames predicted in a row from its own outputs, every step "
        "(clips of hist_len + K frames: avgkit process --clip_length)",
    )
    flag(
        parser,
        None,
        "--curriculum",
        metavar="K:STEPS,...",
        help="rollout steps by stage, adding up to --steps, e.g. 1:60000,3:20000,5:20000",
    )
    flag(
        parser,
        None,
        "--actions",
        action="store_true",
        help="condition G and D on the player's actions (the clips' action set, from the "
        "recording's actions.csv files; default: the resumed run's choice, else none)",
    )
    flag(
        parser,
        None,
        "--action_gates",
        action="store_true",
        help="with --actions, G takes the action as gates on its hidden maps rather than as "
        "input planes (Oh et al.'s multiplicative interaction, per map)",
    )
    flag(
        parser,
        None,
        "--adv_gradient_cap",
        type=float,
        metavar="C",
        help="hold D back: at each scale the adversarial gradient on G's prediction is at most "
        "C times the Lp + GDL gradient (default: the resumed run's, else 0, no cap)",
    )
    flag(
        parser,
        None,
        "--init_weights",
        metavar="NPZ",
        help="a new run's G starts from these kept weights (pretrained:NAME, or a .npz of the "
        "study's weights) to fine-tune them; with --actions the action planes' (or gates') "
        "weights start at zero",
    )
    flag(
        parser,
        None,
        "--loss",
        choices=list(config.LOSSES),
        help="a loss of the paper's ablation (its Table 1): l2, l1, l1_gdl train G alone, adv "
        "(l2 + adversarial) and adv_gdl (l1 + GDL + adversarial) with D; sets l_num, lam_gdl, "
        "lam_adv and -a (default: the preset's l1 + GDL + adversarial, or the resumed run's)",
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
        init_weights=args.init_weights,
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
    of the run being resumed; its curriculum, actions and adversarial gradient cap likewise
    (--actions: the action set of the clips)."""
    from avgkit.data import clips

    preset = _train_preset(args, run_dir)
    resumed = (run_dir / "config.json").exists() and not args.overwrite
    saved = config.load(run_dir / "config.json") if resumed else None
    loss = args.loss or (saved.loss if saved else None)
    chosen = config.with_loss(preset, loss) if loss else preset
    curriculum = _curriculum(args)
    if curriculum is None:  # the resumed run's, its last stage to --steps; else one step ahead
        curriculum = config.extended(saved.curriculum, args.steps) if saved else ()
    actions = saved.actions if saved else ()
    gates = saved.action_gates if saved else False
    if args.action_gates and not args.actions:
        raise AvgkitError("--action_gates: G gates its maps by the actions; pass --actions too")
    if args.actions:
        actions, gates = clips.action_set(args.clips_dir), args.action_gates
    cap = args.adv_gradient_cap
    if cap is None:
        cap = saved.adv_gradient_cap if saved else 0.0
    return dataclasses.replace(
        chosen, curriculum=curriculum, actions=actions, action_gates=gates, adv_gradient_cap=cap
    )


def _curriculum(args) -> tuple | None:
    """--rollout_steps K (one stage of --steps steps) or --curriculum K:STEPS,..., as
    `Config.curriculum`; None if neither is given."""
    if args.rollout_steps is not None and args.curriculum:
        raise AvgkitError("--rollout_steps and --curriculum: pass one or the other")
    if args.rollout_steps is not None:
        if args.rollout_steps < 1:
            raise AvgkitError(f"--rollout_steps {args.rollout_steps}: expected 1 or more frames")
        return () if args.rollout_steps == 1 else ((args.rollout_steps, args.steps),)
    if not args.curriculum:
        return None
    try:
        stages = [tuple(int(n) for n in stage.split(":")) for stage in args.curriculum.split(",")]
    except ValueError:
        stages = [()]
    if any(len(stage) != 2 or min(stage) < 1 for stage in stages):
        raise AvgkitError(
            f"--curriculum {args.curriculum}: expected stages K:STEPS separated by commas, "
            "positive integers, such as 1:60000,3:20000,5:20000"
        )
    return () if all(k == 1 for k, _ in stages) else tuple(stages)


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


def _sibling_test_dir(clips_dir: str) -> Path | None:
    """Test/ beside the Train/ folder the clips were cut from (as `avgkit record` lays them)."""
    from avgkit.data import clips

    try:
        source = Path(clips.read_manifest(clips_dir)["source"])
    except (AvgkitError, KeyError):
        return None
    test_dir = source.parent / "Test"
    return test_dir if test_dir.is_dir() else None
