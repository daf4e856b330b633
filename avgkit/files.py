"""Files written whole: a crash or Ctrl-C while writing leaves the old file (or none), never half
of a new one."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path


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
