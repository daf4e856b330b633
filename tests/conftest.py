"""Fixtures: small real data made by the tests (PNG frame folders, a Ms. Pac-Man recording)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from avgkit.data import atari


def write_video(folder: Path, count: int, size=(48, 64), seed: int = 0, square: int = 10) -> Path:
    """PNG frames of a white square moving right over random static noise; returns `folder`."""
    rng = np.random.default_rng(seed)
    height, width = size
    background = rng.integers(0, 120, (height, width, 3), dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        frame = background.copy()
        left = (3 * index) % (width - square)
        frame[5 : 5 + square, left : left + square] = 255
        Image.fromarray(frame).save(folder / f"frame{index}.png")
    return folder


@pytest.fixture
def frame_root(tmp_path) -> Path:
    """`ROOT/{Train,Test}/<video>/frameN.png`: 2 training videos of 12 frames, 1 test video."""
    root = tmp_path / "frames"
    write_video(root / "Train" / "video1", 12, seed=1)
    write_video(root / "Train" / "video2", 12, seed=2)
    write_video(root / "Test" / "video3", 14, seed=3)
    return root


@pytest.fixture(scope="session")
def mspacman(tmp_path_factory) -> Path:
    """A short real Ms. Pac-Man recording: 2 training and 1 test episode of 40 frames."""
    out = tmp_path_factory.mktemp("mspacman")
    recording = atari.Recording(train_episodes=2, test_episodes=1, frames=40, seed=7)
    return atari.record(out, recording, progress=False)
