"""tools/player_blobs.py's blob count of Ms. Pac-Man's colour, on hand-made masks."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "tools"))
from player_blobs import blob_stats  # noqa: E402


def test_blobs_by_hand():
    truth = np.zeros((20, 20), bool)
    truth[2:7, 2:7] = True  # she is 25 px
    drawn = np.zeros((20, 20), bool)
    drawn[10:14, 10:14] = True  # a 16 px blob
    drawn[2:5, 15:19] = True  # a 12 px blob
    drawn[18, 0:3] = True  # a 3 px bit, not a blob
    largest, blobs, size = blob_stats(truth, drawn)
    assert largest == pytest.approx(16 / 31)
    assert blobs == 2
    assert size == pytest.approx(16 / 25)
    assert blob_stats(truth, np.zeros_like(drawn)) is None
