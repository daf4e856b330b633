"""The two-futures toy: its clips by construction, and the nearest-future count by hand."""

from __future__ import annotations

import numpy as np

from avgkit import toys


def test_each_clip_ends_in_one_of_its_two_futures_half_the_time():
    clips, up, down = toys.two_futures(400, np.random.default_rng(0))
    assert clips.shape == (400, 32, 32, 15) and clips.dtype == np.uint8
    target = clips[..., 12:]
    is_up = np.all(target == up, axis=(1, 2, 3))
    is_down = np.all(target == down, axis=(1, 2, 3))
    assert np.all(is_up ^ is_down) and 160 < is_up.sum() < 240
    yellow = np.all(clips[0].reshape(32, 32, 5, 3) == toys.COLOUR, axis=-1)  # (32, 32, frames)
    columns = [np.flatnonzero(yellow[..., t].any(axis=0)) for t in range(5)]
    assert all(len(c) == toys.SPRITE for c in columns)
    assert [c[0] - columns[0][0] for c in columns] == [0, 2, 4, 6, 8]  # 2 px right a frame
    rows = np.flatnonzero(yellow[..., 4].any(axis=1))
    assert abs(rows[0] - 14) == toys.TURN  # the target turned up or down by TURN px


def test_nearest_future_by_hand():
    _, up, down = toys.two_futures(3, np.random.default_rng(1))
    unit = lambda x: x.astype(np.float64) / 127.5 - 1  # noqa: E731
    predictions = np.stack([unit(up[0]), unit(down[1]), (unit(up[2]) + unit(down[2])) / 2])
    assert list(toys.nearest_future(predictions, up, down)) == ["up", "down", "average"]
    background = np.broadcast_to(unit(np.array(toys.BACKGROUND)), (1, 32, 32, 3))
    assert list(toys.nearest_future(background, up[:1], down[:1])) == ["no sprite"]
