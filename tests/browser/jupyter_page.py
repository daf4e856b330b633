"""What the browser tests share on the page side: timeouts, output selectors, a notebook opened
and run in a page, and the pixels an Image widget shows (its fixtures, a JupyterLab server and
Chromium, are in conftest.py)."""

from __future__ import annotations

import base64
import contextlib
import io
from pathlib import Path

import nbformat
import numpy as np
from PIL import Image

TIMEOUT_MS = 180_000  # a busy 2-core machine: the kernel's start and first figure can be slow
STDOUT = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stdout"]'
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'


def png_pixels(data: bytes) -> np.ndarray:
    assert data.startswith(b"\x89PNG"), data[:16]
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float32)


def shown_pixels(image) -> np.ndarray:
    """The RGB pixels of the PNG an Image widget shows on the page (fetched from its blob or
    data URL)."""
    encoded = image.evaluate(
        """async (img) => {
            const blob = await (await fetch(img.src)).blob();
            const url = await new Promise((done) => {
                const reader = new FileReader();
                reader.onload = () => done(reader.result);
                reader.readAsDataURL(blob);
            });
            return url.slice(url.indexOf(",") + 1);
        }"""
    )
    return png_pixels(base64.b64decode(encoded))


@contextlib.contextmanager
def notebook_run_in_page(browser, lab, name: str, sources: list[str], tmp_path: Path):
    """Write a notebook of code cells `sources` as `name` in the `lab` fixture's folder, open it
    in a new page, wait for its kernel, and Run All Cells. Yields (page, cells, errors): the
    cells' locator, and a list that collects the page's uncaught exceptions and console errors.
    On a failure inside, saves a screenshot beside the server's log and says where."""
    from playwright.sync_api import expect

    base, token, root = lab
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)"}
    nbformat.write(notebook, root / name)
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    try:
        page.goto(f"{base}/lab/tree/{name}?token={token}")
        cells = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
        expect(cells).to_have_count(len(sources))
        # The status bar reads "No Kernel | Initializing", "... | Connecting", then "... | Idle"
        # once the kernel answers: cells run before that are silently not run.
        expect(page.locator("#jp-main-statusbar")).to_contain_text("| Idle")
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-content").get_by_text("Run All Cells", exact=True).click()
        yield page, cells, errors
    except Exception:
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        print(f"the page: {tmp_path / 'page.png'}; the server's log: {tmp_path / 'jupyterlab.log'}")
        raise
    finally:
        page.close()
