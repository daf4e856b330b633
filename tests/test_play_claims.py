"""Notebook 07 says what the shipped action-conditioned model does; these tests hold its words
to the committed weights and study results (as test_notebook_claims does for notebook 06)."""

import json
from pathlib import Path

import numpy as np
import pytest

from avgkit import pretrained

ROOT = Path(__file__).resolve().parents[1]
SHOWN = (1, 2, 4, 8, 16)  # the horizons the notebook prints


@pytest.fixture(scope="module")
def shipped_pair():
    """The shipped run's means, its no-actions twin's, and their paired player placement."""
    summary = json.loads((ROOT / "docs" / "study" / "summary.json").read_text())
    run = pretrained.provenance("pretrained:actions")["study_run"]
    variant, loss, seed = run.rsplit("-", 2)
    control = f"no_{variant}-{loss}-{seed}"
    pair = summary["paired"][f"{variant} {loss} - no_{variant} {loss}"]
    return summary["means"][run], summary["means"][control], pair


def test_the_action_weights_stay_more_than_ten_times_smaller_than_the_frame_weights():
    """'The action weights started at zero and stayed more than ten times smaller'."""
    generator = pretrained.load("pretrained:actions")
    n = len(generator.config.actions)

    def rms(w):
        return float(np.sqrt(np.mean(np.square(w))))

    for k, scale in enumerate(generator.scales):
        kernel = scale.get_layer(f"g{k}_conv0").kernel.numpy()  # the action planes last
        assert rms(kernel[:, :, :-n]) > 10 * rms(kernel[:, :, -n:]), k


def test_every_interval_holds_zero_and_both_lose_her_by_t8(shipped_pair):
    """'Every interval holds zero ... by t+8 both place less than a third of her'."""
    with_actions, without, pair = shipped_pair
    player = pair["sprite_placed"]["player"]
    for h in SHOWN:
        assert player["ci_low"][h - 1] <= 0 <= player["ci_high"][h - 1], h
    for means in (with_actions, without):
        assert means["sprite_placed"]["player"][7] < 1 / 3
