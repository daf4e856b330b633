"""The parser helpers of the `avgkit` command: -H for help, flags under both spellings, types."""

from __future__ import annotations

import argparse


def command(commands, name, run, help_text):
    """A subcommand of `commands` whose arguments `run` takes."""
    parser = new_parser(commands.add_parser, name, help=help_text, description=help_text)
    parser.set_defaults(run=run)
    return parser


def new_parser(factory, *args, **kwargs):
    """A parser that takes -h, -H and --help."""
    parser = factory(*args, add_help=False, **kwargs)
    parser.add_argument("-h", "-H", "--help", action="help", help="show this help and exit")
    return parser


def flag(parser, short, name, **kwargs):
    """Add a flag under its underscore and hyphen spellings (and a short one if given)."""
    spellings = {name, name.replace("_", "-"), "--" + name[2:].replace("-", "_")}
    names = ([short] if short else []) + sorted(spellings, key=lambda s: (s != name, s))
    dest = name[2:].replace("-", "_")
    parser.add_argument(*names, dest=dest, **kwargs)


def true_false(text: str) -> bool:
    value = text.lower()
    if value in ("t", "true", "y", "yes", "1"):
        return True
    if value in ("f", "false", "n", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r}: expected t or f")


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive whole number")
    return value
