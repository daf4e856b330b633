"""The repository's promises: set-up files agree, notebooks follow the contract."""

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

from avgkit import home

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_environment_yml_installs_this_package():
    """environment.yml holds no dependency list of its own: it pip-installs pyproject's."""
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    conda = [d for d in environment["dependencies"] if isinstance(d, str)]
    pip = [d for d in environment["dependencies"] if isinstance(d, dict)][0]["pip"]
    assert sorted(conda) == ["pip", "python=3.11"]
    assert project["requires-python"] == ">=3.11"
    assert pip == ["-e .[dev]"] and "dev" in project["optional-dependencies"]


def test_make_help_lists_the_targets():
    result = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True)
    targets = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert {
        "setup",
        "run-all",
        "test",
        "lab",
        "data",
        "bench",
        "strip-notebooks",
        "clean",
    } <= targets


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_contract(path):
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    for statement in ast.parse(code[0].source).body:  # literals only
        assert isinstance(statement, ast.Assign)
        ast.literal_eval(statement.value)
    assert notebook.metadata.kernelspec.name == "python3"
    shown = [cell for cell in code if cell.outputs]
    assert len(shown) >= len(code) // 2, "committed with the outputs of a run"
    errors = [o for cell in code for o in cell.outputs if o.output_type == "error"]
    assert not errors
    source = "\n".join(cell.source for cell in code)
    assert "import avgkit" in source or "from avgkit" in source


def test_notebooks_hold_no_volatile_metadata():
    sys.path.insert(0, str(ROOT / "tools"))
    import nbclean

    for path in NOTEBOOKS:
        assert not nbclean.clean(nbformat.read(path, as_version=4)), path.name


def test_no_committed_output_holds_a_machine_path(monkeypatch, tmp_path):
    machine = [str(ROOT), str(Path.home()), "/tmp/"]
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            text = json.dumps(cell.get("outputs", []))
            assert not [m for m in machine if m in text], (path.name, cell.source[:80])
    monkeypatch.setenv("AVGKIT_HOME", str(tmp_path))
    assert home.shown(tmp_path / "training" / "run-1") == "$AVGKIT_HOME/training/run-1"
    assert home.shown("/elsewhere/run") == "/elsewhere/run"


def test_nbclean_strips_what_papermill_adds(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    import nbclean

    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("1 + 1", execution_count=3)
    cell.outputs = [
        nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=3),
        nbformat.v4.new_output(
            "stream",
            name="stderr",
            text=(
                "WARNING: All log messages before absl::InitializeLog() is called are "
                "written to STDERR\nI0000 00:00:1795608283.005415    4405 cudart_stub.cc:31]"
                " Could not find cuda drivers\n"
            ),
        ),
    ]
    cell.metadata["papermill"] = {"duration": 1.0}
    notebook.cells.append(cell)
    notebook.metadata["papermill"] = {"parameters": {}}
    assert nbclean.clean(notebook)
    assert cell.execution_count is None and cell.outputs[0]["execution_count"] is None
    assert len(cell.outputs) == 1 and "papermill" not in cell.metadata
    assert not nbclean.clean(notebook)


def _imports(path: Path) -> list[str]:
    """The dotted names a module imports (`from a import b` as `a.b`)."""
    imported = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            imported += [f"{node.module}.{alias.name}" for alias in node.names]
    return imported


def test_evaluation_and_checkpoints_import_nothing_from_training():
    """Dependencies point one way: train -> evaluate -> checkpoints, never back."""
    for module in ("evaluate.py", "checkpoints.py", "pretrained/__init__.py"):
        imported = _imports(ROOT / "avgkit" / module)
        assert not [name for name in imported if name.startswith("avgkit.train")], module


def test_the_library_imports_nothing_from_the_bench_or_the_command():
    """avgkit.bench and avgkit.cli sit on top of the library; nothing in it imports them."""
    on_top = ("avgkit.bench", "avgkit.cli")
    for path in (ROOT / "avgkit").rglob("*.py"):
        if path.relative_to(ROOT / "avgkit").parts[0] in ("bench", "cli"):
            continue
        assert not [name for name in _imports(path) if name.startswith(on_top)], path
