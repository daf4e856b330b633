"""The `avgkit` command: `avgkit record | import-video | process | bench | train | evaluate |
study`.

Flags keep the names of the TF1 implementation (`-n/--num_clips`, `-t/--train_dir`, ...); every
long flag is accepted with underscores or hyphens, and `-H` works as well as `-h`. Bad input ends
with one line naming the file or flag (exit code 2), never a traceback.

Each subcommand's flags sit beside the code that runs it, a module per group: `data` (record,
import-video, process), `bench`, `train`, `evaluate` and `study`; `flags` holds the helpers.
"""

from __future__ import annotations

import argparse
import sys

from avgkit.cli import bench, data, evaluate, flags, study, train
from avgkit.errors import AvgkitError


def main(argv: list[str] | None = None) -> int:
    """Run the subcommand in `argv` (default: the command line); returns the exit code."""
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


def _parser() -> argparse.ArgumentParser:
    """The top-level parser; each subcommand's module declares its own flags."""
    parser = flags.new_parser(
        argparse.ArgumentParser, prog="avgkit", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data.add_record_parser(commands)
    data.add_import_video_parser(commands)
    data.add_process_parser(commands)
    bench.add_bench_parser(commands)
    train.add_train_parser(commands)
    evaluate.add_evaluate_parser(commands)
    study.add_study_parser(commands)
    return parser
