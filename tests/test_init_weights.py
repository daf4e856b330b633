"""Fine-tuning from kept G weights (`--init_weights`, `pretrained.start_from`): an
action-conditioned G started from a G without actions predicts as that G did, training starts
from the weights and resumes from its own checkpoints, and bad weights are refused in one line."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from avgkit import checkpoints, config, models, pretrained
from avgkit import train as train_lib
from avgkit.data import clips as clips_lib
from avgkit.errors import ConfigError
from conftest import ACTION_SET, write_actions, write_indexed_video

TINY = dataclasses.replace(config.preset("tiny"), g_optimizer="adam", g_learning_rate=1e-3)
ACTING = dataclasses.replace(TINY, actions=ACTION_SET)


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    """A tiny G without actions (its weights saved as float16 in `g.npz`) and the folder."""
    folder = tmp_path_factory.mktemp("kept")
    generator = models.build_generator(TINY)
    generator(np.zeros((1, 32, 32, 3 * TINY.hist_len), np.float32))
    pretrained.save_weights(generator, folder / "g.npz")
    return folder


@pytest.fixture(scope="module")
def acted_clips(tmp_path_factory):
    """ROOT/Train/v: 30 indexed frames with random actions; ROOT/clips: 5-frame clips of it."""
    root = tmp_path_factory.mktemp("acted")
    write_indexed_video(root / "Train" / "v", 30, seed=1)
    write_actions(root, seed=2)
    clips_lib.process(root / "Train", root / "clips", 128, shard_size=64, progress=False)
    return root / "clips"


def test_an_action_g_from_a_g_without_actions_first_predicts_as_that_g(kept):
    plain = models.build_generator(TINY)
    pretrained.load_weights(plain, kept / "g.npz")
    acting = models.build_generator(ACTING)
    pretrained.start_from(acting, kept / "g.npz")
    with np.load(kept / "g.npz") as saved:
        arrays = [saved[f"w{i:03d}"].astype(np.float32) for i in range(len(saved.files))]
    widened = 0
    for array, weight in zip(arrays, acting.get_weights()):
        if array.shape != weight.shape:  # a first layer: the action planes' inputs are zeros
            c = array.shape[2]
            assert weight.shape == (*array.shape[:2], c + len(ACTION_SET), array.shape[3])
            np.testing.assert_array_equal(weight[:, :, :c], array)
            assert not weight[:, :, c:].any()
            widened += 1
        else:
            np.testing.assert_array_equal(weight, array)
    assert widened == len(TINY.scale_factors)
    frames = np.random.default_rng(0).uniform(-1, 1, (3, 32, 32, 3 * TINY.hist_len))
    frames = frames.astype(np.float32)
    expected = plain(frames)[-1].numpy()
    for action in range(len(ACTION_SET)):
        got = acting(frames, np.full(3, action))[-1].numpy()
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_a_gated_g_from_a_g_without_actions_starts_with_zero_gates(kept):
    gated = models.build_generator(dataclasses.replace(ACTING, action_gates=True))
    pretrained.start_from(gated, kept / "g.npz")
    with np.load(kept / "g.npz") as saved:
        arrays = [saved[f"w{i:03d}"].astype(np.float32) for i in range(len(saved.files))]
    gates = [w for w in gated.weights if "_gate" in w.path]
    others = [w.numpy() for w in gated.weights if "_gate" not in w.path]
    assert len(gates) == sum(len(maps) for maps in TINY.g_feature_maps)  # one a hidden layer
    assert not any(w.numpy().any() for w in gates)
    for array, weight in zip(arrays, others, strict=True):
        np.testing.assert_array_equal(weight, array)
    plain = models.build_generator(TINY)
    pretrained.load_weights(plain, kept / "g.npz")
    frames = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3 * TINY.hist_len))
    frames = frames.astype(np.float32)
    np.testing.assert_allclose(
        gated(frames, np.array([1, 2]))[-1].numpy(), plain(frames)[-1].numpy(), atol=1e-5
    )


def test_training_starts_from_the_weights_and_then_resumes_its_own(kept, acted_clips, tmp_path):
    run = tmp_path / "run"
    train_lib.train(
        ACTING, acted_clips, run, 1, adversarial=False, init_weights=kept / "g.npz",
        progress=False,
    )  # fmt: skip
    after = models.build_generator(ACTING)
    checkpoints.restore_generator(after, checkpoints.resolve_checkpoint(run, ACTING))
    start = models.build_generator(ACTING)
    pretrained.start_from(start, kept / "g.npz")
    moved = [np.abs(a - b).max() for a, b in zip(after.get_weights(), start.get_weights())]
    # one Adam step moves each weight by at most the learning rate, and moves most of them
    assert max(moved) <= TINY.g_learning_rate * 1.0001
    assert np.mean([m > 0 for m in moved]) > 0.5
    # resumed, the run continues its own checkpoint: weights of another network are not read
    other = tmp_path / "other.npz"
    small = models.build_generator(config.preset("small"))
    small(np.zeros((1, 32, 32, 3 * TINY.hist_len), np.float32))
    pretrained.save_weights(small, other)
    train_lib.train(
        ACTING, acted_clips, run, 2, adversarial=False, init_weights=other, progress=False
    )
    assert checkpoints.resolve_checkpoint(run, ACTING).endswith("ckpt-2")


def test_bad_init_weights_are_refused_in_one_line_and_leave_no_run(kept, acted_clips, tmp_path):
    def refused(run_config, weights, match):
        run = tmp_path / "run"
        with pytest.raises(ConfigError, match=match):
            train_lib.train(
                run_config, acted_clips, run, 1, adversarial=False, init_weights=weights,
                progress=False,
            )  # fmt: skip
        assert not run.exists()

    refused(TINY, tmp_path / "nothing.npz", r"--init_weights .*nothing.npz: no such file")
    small = dataclasses.replace(config.preset("small"), actions=ACTION_SET)
    refused(small, kept / "g.npz", r"g.npz: weights of another network .*preset small")
    with pytest.raises(ConfigError, match=r"no such shipped model"):
        pretrained.start_from(models.build_generator(TINY), "pretrained:nothing")
