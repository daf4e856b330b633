"""tools/static_error.py's split of the error into still and changing pixels, and the rows that
hold the still pixels' error, on hand-made frames."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "tools"))
from static_error import still_error  # noqa: E402


def test_the_split_by_hand():
    last_input = np.zeros((1, 4, 2, 3), np.uint8)
    truth = last_input.copy()
    truth[0, 3, 1] = 90  # one pixel changes: 7 of the 8 stay still
    predicted = truth.astype(np.float64)
    predicted[0, 0, :, 0] = 6.0  # row 0, both pixels still: squared error 36 / 3 = 12 each
    predicted[0, 2, 0] = 3.0  # row 2: 9 in every channel, 9
    predicted[0, 3, 1] = 60.0  # the changing pixel: 30 off in every channel, 900
    split = still_error(last_input, truth, predicted)
    assert split["mse_still"] == pytest.approx((12 + 12 + 9) / 7)
    assert split["mse_changing"] == pytest.approx(900)
    assert split["still_share"] == pytest.approx(33 / 933)
    np.testing.assert_allclose(split["row_shares"], [24 / 33, 0, 9 / 33, 0])
