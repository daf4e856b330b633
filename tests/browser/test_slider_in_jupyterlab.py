"""`viz.recursion_slider` as a reader uses it: a real JupyterLab server and kernel, and Debian's
Chromium driven by Playwright. The notebook is run from the Run menu and the slider moved with
the keyboard; the test checks the readout, that the picture is the figure of the new horizon,
and, in the kernel, the slider's value and that no matplotlib figure stays open or alive. Once
with the inline backend and once with ipympl (`%matplotlib widget`).

Not part of `make test` (marker `browser`, deselected by pyproject's addopts): run it with
`make test-browser`, which needs `apt-get install -y chromium`."""

from __future__ import annotations

import base64
import io
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import numpy as np
import pytest
from PIL import Image

from avgkit import viz

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HORIZONS = 6
TIMEOUT_MS = 180_000  # a busy 2-core machine: the kernel's start and first figure can be slow

# The same arrays in the kernel (the cell's source) and here (exec of the same source).
DATA = """\
import numpy as np
rng = np.random.default_rng(0)
truths = rng.uniform(-1, 1, (6, 21, 16, 3)).astype(np.float32)
predictions = {"noisy": np.clip(truths + rng.normal(0, 0.3, truths.shape), -1, 1)}
"""
SLIDER_CELL = f"""{DATA}from avgkit import viz
widget = viz.recursion_slider(truths, predictions)
widget
"""
# What the kernel holds, read back from the page: the slider's value, the figures pyplot keeps
# open, and the Figure objects alive at all (ipympl's widgets can keep closed ones alive).
PROBE_CELL = """\
import gc
import matplotlib
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
gc.collect()
live = sum(isinstance(o, Figure) for o in gc.get_objects())
print(f"probe: slider {widget.children[0].value}, open figures {len(plt.get_fignums())}, "
      f"live figures {live}, backend {matplotlib.get_backend()}")
"""
BACKEND_NAMES = {"inline": ("backend_inline",), "widget": ("backend widget", "ipympl")}
STDOUT = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stdout"]'
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'


def expected_pictures() -> list[np.ndarray]:
    """The figure at each horizon, drawn here as the kernel draws it (RGB arrays)."""
    scope: dict = {}
    exec(DATA, scope)
    return [
        png_pixels(viz.figure_png(viz.recursion_figure(scope["truths"], scope["predictions"], h)))
        for h in range(1, HORIZONS + 1)
    ]


def png_pixels(data: bytes) -> np.ndarray:
    assert data.startswith(b"\x89PNG"), data[:16]
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float32)


def horizon_shown(image, expected: list[np.ndarray]) -> int:
    """The 1-based horizon whose expected figure is nearest to the PNG that the page shows in
    the Image widget (fetched from its blob or data URL; it must have the expected size)."""
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
    picture = png_pixels(base64.b64decode(encoded))
    assert all(picture.shape == reference.shape for reference in expected), picture.shape
    return 1 + int(np.argmin([np.abs(picture - reference).mean() for reference in expected]))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install it with `apt-get install -y chromium`", False)
    return CHROMIUM


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server of its own on a free port of 127.0.0.1 (own settings, workspace and
    root folder). Yields (base url, token, root folder); shut down with its kernels after."""
    root, home = tmp_path / "lab", tmp_path / "jupyter"
    root.mkdir()
    port, token = free_port(), secrets.token_hex(16)
    env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="2",
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),  # kernels: .venv's python3 (make setup), no other
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
    )
    env.pop("MPLBACKEND", None)
    log_path = tmp_path / "jupyterlab.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("jupyter")),
                "lab",
                "--no-browser",
                "--allow-root",  # CI runs as root
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={root}",
                "--LabApp.news_url=None",  # nothing asked from outside this machine
                "--LabApp.extension_manager=readonly",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            ],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while not answers(f"{base}/api/status?token={token}"):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"no JupyterLab on {base}:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base, token, root
    finally:
        shutdown = urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST")
        try:  # the server's own shutdown also shuts its kernels down
            urllib.request.urlopen(shutdown, timeout=10).close()
        except (urllib.error.URLError, OSError):
            pass
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)  # its own session: the server alone
            server.wait(timeout=30)


@pytest.fixture
def browser(chromium, tmp_path):
    """Debian's Chromium, headless, with a fresh profile; closed after."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.mark.parametrize("backend", ["inline", "widget"])
def test_the_slider_redraws_in_jupyterlab_and_leaks_no_figure(browser, lab, backend, tmp_path):
    from playwright.sync_api import expect

    base, token, root = lab
    name = f"slider_{backend}.ipynb"
    first = SLIDER_CELL if backend == "inline" else "%matplotlib widget\n" + SLIDER_CELL
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(first), nbformat.v4.new_code_cell(PROBE_CELL)]
    )
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)"}
    nbformat.write(notebook, root / name)
    expected = expected_pictures()

    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []  # uncaught exceptions and console errors (a widget that fails)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    try:
        page.goto(f"{base}/lab/tree/{name}?token={token}")
        cells = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
        expect(cells).to_have_count(2)
        # The status bar reads "No Kernel | Initializing", "... | Connecting", then "... | Idle"
        # once the kernel answers: cells run before that are silently not run.
        expect(page.locator("#jp-main-statusbar")).to_contain_text("| Idle")

        # Run > Run All Cells.
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-content").get_by_text("Run All Cells", exact=True).click()

        readout = cells.nth(0).locator(".widget-readout")
        image = cells.nth(0).locator("img.widget-image")
        probe = cells.nth(1).locator(STDOUT)
        expect(probe).to_contain_text("probe: slider 1,")
        assert "open figures 0, live figures 0," in probe.inner_text(), probe.inner_text()
        assert any(word in probe.inner_text() for word in BACKEND_NAMES[backend])
        expect(readout).to_have_text("1")
        assert horizon_shown(image, expected) == 1

        # Move the slider with the keyboard, as a reader can: focus its handle, press a key.
        for key, horizon in [("ArrowRight", 2), ("End", HORIZONS)]:
            shown = image.get_attribute("src")
            cells.nth(0).locator(".noUi-handle").focus()
            page.keyboard.press(key)
            expect(readout).to_have_text(str(horizon))
            expect(image).not_to_have_attribute("src", shown)
            assert horizon_shown(image, expected) == horizon

        # In the kernel, after the moves: run the probe again.
        cells.nth(1).locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        expect(probe).to_contain_text(f"probe: slider {HORIZONS},")
        assert "open figures 0, live figures 0," in probe.inner_text(), probe.inner_text()
        expect(page.locator(STDERR)).to_have_count(0)
        assert not errors, errors
    except Exception:
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        print(f"the page: {tmp_path / 'page.png'}; the server's log: {tmp_path / 'jupyterlab.log'}")
        raise
    finally:
        page.close()
