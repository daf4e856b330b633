"""Fixtures: small real data made by the tests (PNG frame folders, a Ms. Pac-Man recording)."""

from __future__ import annotations

import json
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


def write_indexed_video(folder: Path, count: int, seed: int = 0) -> Path:
    """PNG frames whose red channel is 8 * t everywhere but under a white square moving right
    over green and blue noise: the frame index t of any crop is its red minimum / 8."""
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 120, (48, 64, 3), dtype=np.uint8)
    folder.mkdir(parents=True)
    for t in range(count):
        frame = background.copy()
        frame[..., 0] = 8 * t
        frame[5:15, 3 * t % 54 : 3 * t % 54 + 10] = 255
        Image.fromarray(frame).save(folder / f"frame{t}.png")
    return folder


def frame_indices(clips_: np.ndarray) -> np.ndarray:
    """The frame index of every frame of uint8 clips (..., h, w, 3 * T) -> (..., T)."""
    return clips_[..., 0::3].min(axis=(-3, -2)) // 8


ACTION_SET = ("NOOP", "UP", "RIGHT", "LEFT", "DOWN")


def write_actions(root: Path, seed: int = 0) -> dict[str, list[str]]:
    """Give every video of ROOT/{Train,Test} (frames frameN.png, as `write_video` and
    `write_indexed_video` make them) an actions.csv of random names of ACTION_SET, one row per
    frame in frame order, and ROOT/recording.json the action set. Returns {video folder name:
    names}."""
    rng = np.random.default_rng(seed)
    (root / "recording.json").write_text(json.dumps({"actions": list(ACTION_SET)}))
    written = {}
    for video in sorted(root.glob("Train/*/")) + sorted(root.glob("Test/*/")):
        frames = sorted((p.name for p in video.glob("*.png")), key=lambda n: int(n[5:-4]))
        names = [ACTION_SET[i] for i in rng.integers(0, len(ACTION_SET), len(frames))]
        rows = ["frame,action"] + [f"{frame},{name}" for frame, name in zip(frames, names)]
        (video / "actions.csv").write_text("\n".join(rows) + "\n")
        written[video.name] = names
    return written


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
