"""Strip volatile metadata from notebooks, or with --check list the notebooks that hold some.

Volatile: execution counts (of cells and of their `execute_result` outputs), papermill's and
Jupyter's per-cell timings and tags it adds, the notebook's papermill block and widget state.
"""

from __future__ import annotations

import argparse
import re
import sys

import nbformat

CELL_KEYS = ("papermill", "execution", "ExecuteTime", "collapsed", "scrolled")
NOTEBOOK_KEYS = ("papermill", "widgets")
# TensorFlow's C++ (absl) log lines carry a timestamp and a process id; no setting silences the
# ones written before its logging starts, so they are dropped from committed outputs.
LOG_LINE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\).*"
    r"|[IWEF]\d{4} [\d:.]+ +\d+ \S+:\d+\] .*)\n?",
    re.M,
)


def clean(notebook) -> bool:
    """Remove volatile metadata in place; returns whether anything was removed."""
    changed = False
    for key in NOTEBOOK_KEYS:
        changed |= notebook.metadata.pop(key, None) is not None
    for cell in notebook.cells:
        for key in CELL_KEYS:
            changed |= cell.metadata.pop(key, None) is not None
        tags = cell.metadata.get("tags")
        if tags and "injected-parameters" in tags:
            raise SystemExit("a notebook holds papermill's injected parameters: rerun at defaults")
        if cell.cell_type != "code":
            continue
        if cell.execution_count is not None:
            cell.execution_count, changed = None, True
        for output in cell.outputs:
            if output.get("execution_count") is not None:
                output["execution_count"], changed = None, True
            if output.output_type == "stream" and output.name == "stderr":
                text = LOG_LINE.sub("", output.text)
                changed |= text != output.text
                output.text = text
        kept = [o for o in cell.outputs if not (o.output_type == "stream" and not o.text)]
        changed |= len(kept) != len(cell.outputs)
        cell.outputs = kept
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if dirty")
    args = parser.parse_args(argv)
    dirty = []
    for path in args.notebooks:
        notebook = nbformat.read(path, as_version=4)
        if clean(notebook):
            dirty.append(path)
            if not args.check:
                nbformat.write(notebook, path)
    if args.check and dirty:
        print(
            "volatile metadata in: " + ", ".join(dirty) + "; run `make strip-notebooks`",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
