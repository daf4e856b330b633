"""The generators shipped in the package: each loads by name, and beats copy_last where things
move on a fresh Ms. Pac-Man recording whose seed the study never used."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avgkit import config, evaluate, pretrained
from avgkit.data import atari, pipeline

SHIPPED = ["actions", "adv_gdl", "adv_gdl_long", "l1_gdl", "l1_gdl_long"]
ROOT = Path(__file__).resolve().parents[1]
FRESH_SEED = 2026  # the study recorded with seed 1


@pytest.fixture(scope="module")
def windows(tmp_path_factory):
    """Three test episodes of 60 frames, 3 windows of 4 inputs + 1 target each, and the test
    folder."""
    recording = atari.Recording(train_episodes=0, test_episodes=3, frames=60, seed=FRESH_SEED)
    out = atari.record(tmp_path_factory.mktemp("fresh"), recording, progress=False)
    sequences, _ = pipeline.test_sequences(out / "Test", 4, 1, per_video=3)
    inputs = pipeline.stack_frames(pipeline.to_unit(sequences[:, :4]))
    return sequences, inputs, evaluate.motion_masks(sequences, 4), out / "Test"


def test_the_shipped_models_are_there_with_their_provenance():
    assert pretrained.names() == SHIPPED
    for name in SHIPPED:
        provenance = pretrained.provenance(name)
        assert provenance["name"] == f"pretrained:{name}"
        assert provenance["loss"] == (pretrained.config(name).loss)
        assert provenance["loss"] == name.removesuffix("_long") or name == "actions"
        assert provenance["study_run"].startswith("long") == name.endswith("_long")
        for key in ("command", "study", "steps", "seed", "recording", "machine", "date", "scores"):
            assert key in provenance, key
        assert (ROOT / provenance["study"] / "runs" / f"{provenance['study_run']}.json").exists()
        assert bool(pretrained.config(name).actions) == (name == "actions")
        assert (pretrained.folder(name) / "weights.npz").stat().st_size < 2_000_000


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_model_beats_copy_last_on_a_fresh_recording(windows, name):
    sequences, inputs, masks, test_dir = windows
    generator = evaluate.load_generator(f"pretrained:{name}")
    actions = None  # the action model plays the actions recorded towards each target
    if generator.config.actions:
        recorded = pipeline.test_actions(test_dir, 4, 1, generator.config.actions, per_video=3)
        actions = recorded[:, 4:]
    predicted = evaluate.rollout(generator, inputs, 1, actions=actions)
    scores = evaluate.score(predicted, sequences[:, 4:], masks)
    baseline = evaluate.score(evaluate.copy_last(inputs, 1), sequences[:, 4:], masks)
    moving = np.nanmean(scores["psnr", "moving"][0]) - np.nanmean(baseline["psnr", "moving"][0])
    assert moving > 0, f"{name}: {moving:+.2f} dB against copy_last, moving areas, t+1"
    if not config.LOSSES[generator.config.loss].adversarial:  # these beat it on the whole frame
        whole = np.mean(scores["psnr", "whole"][0]) - np.mean(baseline["psnr", "whole"][0])
        assert whole > 0, f"{name}: {whole:+.2f} dB against copy_last, whole frame, t+1"
