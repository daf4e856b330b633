"""pytest settings shared by the unit tests and the notebook checks (nbval)."""


def pytest_collectstart(collector):
    """Compare notebook outputs on what they state, not on logs or widget ids that vary."""
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += (
            "stderr",
            "application/vnd.jupyter.widget-view+json",
            "application/javascript",
            "text/html",
        )


def pytest_collection_modifyitems(items):
    """Committed notebooks carry no execution counts (volatile); nbval takes a cell without one
    for a cell never run, so number them in memory before it compares."""
    for number, item in enumerate(items, start=1):
        cell = getattr(item, "cell", None)
        if cell is not None and cell.get("execution_count", 0) is None:
            cell.execution_count = number
