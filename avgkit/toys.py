"""A controlled test of the paper's thesis: clips with two equally likely sharp futures.

A 4x4 sprite moves right along the middle row for `hist_len` frames; in the target frame it
goes on right and turns, up or down by `TURN` pixels, each with probability 1/2. The inputs
say nothing about which: the best a predictor can do is pick one sharp future (or draw both
at half strength, the l2 answer). `nearest_future` tells which a prediction is closest to.
"""

from __future__ import annotations

import numpy as np

SPRITE = 4  # pixels a side
STEP = 2  # pixels right per frame
TURN = 6  # pixels up or down in the target frame
BACKGROUND = (20, 20, 90)  # dark blue, a Ms. Pac-Man-like maze floor
COLOUR = (250, 220, 40)  # yellow
FUTURES = ("up", "down", "average", "no sprite")


def two_futures(count: int, rng: np.random.Generator, size: int = 32, hist_len: int = 4):
    """`count` clips and both of their possible targets.

    Returns (clips, up, down): clips uint8 (count, size, size, 3 * (hist_len + 1)), the history
    then the target drawn with one of the two futures at random; up and down uint8 (count,
    size, size, 3), the target frame of each future.
    """
    frames = hist_len + 1
    max_start = size - SPRITE - STEP * frames
    starts = rng.integers(0, max_start + 1, count)
    row = size // 2 - SPRITE // 2
    history = np.empty((count, hist_len, size, size, 3), np.uint8)
    for t in range(hist_len):
        history[:, t] = _draw(starts + STEP * t, np.full(count, row), size)
    x = starts + STEP * hist_len
    up = _draw(x, np.full(count, row - TURN), size)
    down = _draw(x, np.full(count, row + TURN), size)
    target = np.where(rng.random(count)[:, None, None, None] < 0.5, up, down)
    clips = np.concatenate([*np.moveaxis(history, 1, 0), target], axis=-1)
    return clips, up, down


def nearest_future(predictions, up, down) -> np.ndarray:
    """Which of FUTURES each prediction is nearest to, by mean squared distance: "up", "down",
    "average" ((up + down) / 2: both sprites at half strength) or "no sprite" (the background
    alone). predictions: float (n, H, W, 3) in [-1, 1]; up, down: uint8 targets. Returns an
    array of n names."""
    up, down = (np.asarray(x, np.float64) / 127.5 - 1.0 for x in (up, down))
    empty = np.broadcast_to(np.array(BACKGROUND) / 127.5 - 1.0, up.shape)
    candidates = np.stack([up, down, (up + down) / 2, empty])  # (4, n, H, W, 3)
    distances = np.mean((candidates - np.asarray(predictions, np.float64)) ** 2, axis=(2, 3, 4))
    return np.array(FUTURES)[np.argmin(distances, axis=0)]


def _draw(xs, ys, size: int) -> np.ndarray:
    """Frames (n, size, size, 3): the background with a sprite at each (x, y) top-left corner."""
    frames = np.empty((len(xs), size, size, 3), np.uint8)
    frames[:] = BACKGROUND
    for frame, x, y in zip(frames, xs, ys):
        frame[y : y + SPRITE, x : x + SPRITE] = COLOUR
    return frames
