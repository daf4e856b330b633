"""The browser tests' fixtures: a JupyterLab server of their own and Debian's Chromium driven by
Playwright."""

from __future__ import annotations

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

import pytest

from .jupyter_page import TIMEOUT_MS

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
