"""Files written whole: a crash or Ctrl-C while writing leaves the old file (or none), never half
of a new one. And reading them back: a damaged file is named in one line (a DataError)."""

from __future__ import annotations

import contextlib
import json
import os
import zipfile
import zlib
from pathlib import Path

from avgkit.errors import DataError

# What numpy raises on a damaged .npz: cut short, bytes changed (zip's "Bad CRC-32", a deflate
# stream that does not decode), a member or header missing
NPZ_ERRORS = (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile, zlib.error)


@contextlib.contextmanager
def replacing(path: str | Path):
    """Yield a temporary path beside `path` (its folder made if missing) to write to; it becomes
    `path` when the block ends, and is removed if the block raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)


def write_json(path: str | Path, value: dict, indent: int = 1) -> None:
    """`value` as JSON at `path`, written whole."""
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(value, indent=indent) + "\n")


def write_new_json(path: str | Path, value: dict, indent: int = 1) -> bool:
    """`value` as JSON at `path`, written whole, unless a file is there: one that appeared while
    this one was made is kept too (the name is taken by a hard link, which fails on an existing
    name). Returns whether `value` was written."""
    path = Path(path)
    draft = path.with_name(path.name + ".new")
    write_json(draft, value, indent)
    try:
        os.link(draft, path)
    except FileExistsError:
        return False
    finally:
        draft.unlink()
    return True


def read_json(path: str | Path, remedy: str) -> dict:
    """The JSON in `path`; DataError naming it, followed by `remedy`, if it does not parse."""
    try:
        return json.loads(Path(path).read_text())
    except ValueError as error:  # not JSON, or not even UTF-8 text
        raise DataError(f"{path}: not valid JSON ({error}); {remedy}") from None
