"""What the browser tests share on the page side: timeouts, output selectors, and the pixels an
Image widget shows (its fixtures, a JupyterLab server and Chromium, are in conftest.py)."""

from __future__ import annotations

import base64
import io

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
