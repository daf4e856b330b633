"""`avgkit record`, `avgkit import-video` and `avgkit process`: frames and clips."""

from __future__ import annotations

from pathlib import Path

from avgkit.cli.flags import command, flag
from avgkit.data.atari import START_SKIP
from avgkit.errors import AvgkitError


def add_record_parser(commands) -> None:
    """`avgkit record` and its flags."""
    parser = command(
        commands, "record", run_record, "Record Atari episodes into Train/ and Test/ folders."
    )
    flag(parser, None, "--game", default="MsPacman", help="ALE game name (default MsPacman)")
    flag(parser, None, "--out", help="output folder (default data/<game in lower case>)")
    flag(parser, None, "--train-episodes", type=int, default=20, help="default 20")
    flag(parser, None, "--test-episodes", type=int, default=4, help="default 4")
    flag(
        parser,
        None,
        "--frames",
        type=int,
        default=1000,
        help="recorded frames per episode at most; game over ends it sooner (default 1000)",
    )
    flag(
        parser,
        None,
        "--frameskip",
        type=int,
        default=4,
        help="emulator frames per recorded frame (default 4)",
    )
    flag(
        parser,
        None,
        "--combine",
        type=int,
        default=6,
        help="emulator frames combined into one recorded frame, against flicker (default 6)",
    )
    flag(
        parser,
        None,
        "--start-skip",
        type=int,
        default=START_SKIP,
        help=f"emulator frames skipped after each reset: Ms. Pac-Man's start-up tune, when "
        f"nothing moves (default {START_SKIP})",
    )
    flag(parser, None, "--seed", type=int, default=0, help="default 0")


def run_record(args) -> None:
    from avgkit.data import actions, atari

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
    names = actions.action_set(Path(out) / "Train")  # none in a recording begun without them
    kept = f", with the player's actions ({len(names)}: {', '.join(names)})" if names else ""
    print(f"recorded {args.game} into {out}/Train and {out}/Test{kept}")


def add_import_video_parser(commands) -> None:
    """`avgkit import-video` and its flags."""
    parser = command(
        commands, "import-video", run_import_video, "Import video files as frame folders."
    )
    parser.add_argument("videos", nargs="+", help="video files, or folders searched for videos")
    flag(parser, None, "--out", required=True, help="output folder (gets Train/ and Test/)")
    flag(parser, None, "--stride", type=int, default=1, help="keep every n-th frame (default 1)")
    flag(parser, None, "--resize", help="WIDTHxHEIGHT, e.g. 160x120 (default: keep the size)")
    flag(
        parser,
        None,
        "--test-every",
        type=int,
        default=5,
        help="every n-th video goes to Test/, 0 for none (default 5)",
    )


def run_import_video(args) -> None:
    from avgkit.data import video

    resize = _size(args.resize) if args.resize else None
    folders = video.import_videos(args.videos, args.out, args.stride, resize, args.test_every)
    print(f"imported {len(folders)} videos into {args.out}/Train and {args.out}/Test")


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise AvgkitError(f"--resize {text}: expected WIDTHxHEIGHT, e.g. 160x120") from None
    return width, height


def add_process_parser(commands) -> None:
    """`avgkit process` and its flags."""
    parser = command(commands, "process", run_process, "Cut training clips from frame folders.")
    flag(
        parser,
        "-n",
        "--num_clips",
        type=int,
        default=5_000_000,
        help="number of clips (default 5000000)",
    )
    flag(
        parser,
        "-t",
        "--train_dir",
        default="data/mspacman/Train",
        help="folder of training videos (default data/mspacman/Train)",
    )
    flag(
        parser,
        "-c",
        "--clips_dir",
        default="data/mspacman/clips",
        help="where the clip shards go (default data/mspacman/clips)",
    )
    flag(parser, "-o", "--overwrite", action="store_true", help="replace existing clips")
    flag(parser, None, "--seed", type=int, default=0, help="default 0")
    flag(
        parser,
        None,
        "--clip_length",
        type=int,
        default=5,
        help="frames a clip holds: 4 input frames and the frames to predict (default 5; "
        "4 + K to train on K-step rollouts, avgkit train --rollout_steps K)",
    )
    flag(
        parser,
        None,
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: one per core)",
    )


def run_process(args) -> None:
    from avgkit.data import clips

    summary = clips.process(
        args.train_dir,
        args.clips_dir,
        args.num_clips,
        seed=args.seed,
        workers=args.workers,
        overwrite=args.overwrite,
        spec=clips.ClipSpec(clip_length=args.clip_length),
    )
    print(summary.line())
