"""D's extra examples (the official advExt = 'full') and D's diagnostics, against direct
computations: the loss by hand from D's logits, sigmoid means, the scaling of the adversarial
share with lam_adv, and the stats log's columns."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from avgkit import config, models
from avgkit import train as train_lib
from avgkit.data import clips as clips_lib
from avgkit.data import pipeline
from avgkit.errors import ConfigError
from conftest import ACTION_SET, frame_indices, write_actions, write_indexed_video, write_video

TINY = config.preset("tiny")
EXTRA = dataclasses.replace(TINY, d_extra_examples=True)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Clips of two synthetic training videos, and a test video."""
    root = tmp_path_factory.mktemp("diagnostics")
    write_video(root / "Train" / "a", 30, seed=1)
    write_video(root / "Train" / "b", 30, seed=2)
    write_video(root / "Test" / "c", 20, seed=3)
    clips_lib.process(root / "Train", root / "clips", 320, shard_size=64, progress=False)
    return root


def batches(data, cfg, step=0):
    reader = train_lib.ShardBatches(data / "clips", cfg, seed=0, block_steps=4)
    try:
        return reader.batch(step)
    finally:
        reader.close()


def softplus(x):
    return np.logaddexp(0.0, x)


def test_extra_examples_add_a_second_real_batch_and_a_mismatched_history(data):
    g_clips, d_clips, extra = batches(data, EXTRA)
    assert g_clips.shape == d_clips.shape == (8, 32, 32, 15) and extra.shape == (2, 8, 32, 32, 15)
    assert len(batches(data, TINY)) == 2
    trainer = train_lib.Trainer(EXTRA)
    split = [pipeline.split_clip(pipeline.to_unit(c), 4) for c in (d_clips, extra[0], extra[1])]
    (h1, y1), (h2, y2), (_, y3) = split
    fakes = trainer.generator(h1)
    d = trainer.discriminator

    def bce_terms(history, real, fake):  # per scale: BCE(real, 1) + BCE(fake, 0), batch means
        real_logits = [r.numpy().astype(np.float64) for r in d(history, real)]
        fake_logits = [f.numpy().astype(np.float64) for f in d(history, fake)]
        return np.array(
            [softplus(-r).mean() + softplus(f).mean() for r, f in zip(real_logits, fake_logits)]
        )

    expected = bce_terms(h1, models.pyramid(y1, EXTRA), fakes) + bce_terms(
        h2, models.pyramid(y2, EXTRA), models.pyramid(y3, EXTRA)
    )
    values = trainer.train_step(g_clips, d_clips, extra)
    np.testing.assert_allclose(values["d_scales"], expected, rtol=1e-5)
    assert values["d_loss"] == pytest.approx(expected.sum(), rel=1e-5)
    with pytest.raises(ConfigError, match="expected D's two extra batches"):
        trainer.train_step(g_clips, d_clips)
    with pytest.raises(ConfigError, match="expected no extra batches"):
        train_lib.Trainer(TINY).train_step(g_clips, d_clips, extra)


def test_diagnostics_are_sigmoid_means_and_the_share_scales_with_lam_adv(data):
    g_clips, d_clips = batches(data, TINY)
    shares = {}
    for lam_adv in (0.05, 0.5):
        trainer = train_lib.Trainer(dataclasses.replace(TINY, lam_adv=lam_adv), seed=1)
        found = trainer.diagnostics(g_clips, d_clips)
        history, target = pipeline.split_clip(pipeline.to_unit(d_clips), 4)
        sigmoid = lambda logits: [1 / (1 + np.exp(-x.numpy())) for x in logits]  # noqa: E731
        real = sigmoid(trainer.discriminator(history, models.pyramid(target, TINY)))
        fake = sigmoid(trainer.discriminator(history, trainer.generator(history)))
        np.testing.assert_allclose(found["d_real"], [x.mean() for x in real], rtol=1e-5)
        np.testing.assert_allclose(found["d_fake"], [x.mean() for x in fake], rtol=1e-5)
        np.testing.assert_allclose(trainer.d_real(d_clips), found["d_real"], rtol=1e-6)
        shares[lam_adv] = found["adv_share"]
        assert np.all((found["adv_share"] > 0) & (found["adv_share"] < 1))
    # share = a / (a + r) with a proportional to lam_adv: the odds grow 10 times
    odds = {lam: share / (1 - share) for lam, share in shares.items()}
    np.testing.assert_allclose(odds[0.5], 10 * odds[0.05], rtol=1e-3)
    alone = dataclasses.replace(TINY, lam_lp=0.0, lam_gdl=0.0)
    np.testing.assert_allclose(
        train_lib.Trainer(alone).diagnostics(g_clips, d_clips)["adv_share"], 1.0, rtol=1e-6
    )


def test_the_stats_log_carries_d_per_scale_and_the_held_out_score(data, tmp_path):
    every = train_lib.Frequencies(stats=2, summary=100, images=100, test=4, save=100)
    common = dict(test_dir=data / "Test", frequencies=every, progress=False)
    train_lib.train(TINY, data / "clips", tmp_path / "adv", 4, **common)
    log = train_lib.read_log(tmp_path / "adv" / "results" / "train_log.csv")
    assert [row["step"] for row in log] == [2, 4]
    for row in log:
        for name in ("d_real", "d_fake", "adv_share"):
            assert all(0 <= row[f"{name}_{k}"] <= 1 for k in range(4)), name
    assert np.isnan(log[0]["d_heldout_0"]) and 0 < log[1]["d_heldout_3"] < 1  # at test steps
    train_lib.train(TINY, data / "clips", tmp_path / "g", 4, adversarial=False, **common)
    log = train_lib.read_log(tmp_path / "g" / "results" / "train_log.csv")
    assert all(np.isnan(row[f"d_real_{k}"]) for row in log for k in range(4))  # no D


def test_held_out_clips_are_cut_from_the_test_videos(data):
    clips, actions = train_lib.heldout_examples(data / "Test", TINY, seed=0, count=10)
    assert clips.shape == (10, 32, 32, 15) and clips.dtype == np.uint8 and actions is None
    train_clips = {c.tobytes() for c in batches(data, TINY)[0]}
    assert not train_clips & {c.tobytes() for c in clips}


def test_d_scores_real_generated_and_mismatched_frames_by_hand(data):
    _, d_clips = batches(data, TINY)
    trainer = train_lib.Trainer(TINY, seed=2)
    found = trainer.d_scores(d_clips)
    frames = d_clips.astype(np.float64) / 127.5 - 1  # the clips' frames in [-1, 1], by hand
    history = frames[..., :12].astype(np.float32)
    target = frames[..., 12:].astype(np.float32)
    mismatched = np.concatenate([target[1:], target[:1]])  # clip i's history, clip i+1's frame

    def mean_sigmoid(candidates):
        logits = trainer.discriminator(history, candidates)
        return [np.mean(1 / (1 + np.exp(-x.numpy().astype(np.float64)))) for x in logits]

    np.testing.assert_allclose(found["real"], mean_sigmoid(models.pyramid(target, TINY)), 1e-5)
    np.testing.assert_allclose(found["generated"], mean_sigmoid(trainer.generator(history)), 1e-5)
    np.testing.assert_allclose(
        found["mismatched"], mean_sigmoid(models.pyramid(mismatched, TINY)), 1e-5
    )
    assert not np.allclose(found["mismatched"], found["real"])  # not the same frames scored


def test_with_actions_d_judges_each_frame_with_the_action_towards_it(data):
    """D's loss with extra examples, by hand from D's logits, when every clip comes with its
    frames' actions: the real and generated frames with the action towards them, the second
    real batch's frame and the mismatched frame after its history with that history's action;
    then D's diagnostics and scores with the same actions."""
    acting = dataclasses.replace(EXTRA, actions=("A", "B", "C"))
    g_clips, d_clips, extra = batches(data, EXTRA)
    rng = np.random.default_rng(0)
    actions = tuple(rng.integers(0, 3, shape) for shape in ((8, 5), (8, 5), (2, 8, 5)))
    trainer = train_lib.Trainer(acting)
    (h1, y1), (h2, y2), (_, y3) = [
        pipeline.split_clip(pipeline.to_unit(c), 4) for c in (d_clips, extra[0], extra[1])
    ]
    a1, a2 = actions[1][:, 4], actions[2][0][:, 4]

    def terms(history, real, fake, action):  # per scale: BCE(real, 1) + BCE(fake, 0)
        d = trainer.discriminator
        real_logits = [x.numpy().astype(np.float64) for x in d(history, real, action)]
        fake_logits = [x.numpy().astype(np.float64) for x in d(history, fake, action)]
        return np.array([softplus(-r).mean() + softplus(f).mean()
                         for r, f in zip(real_logits, fake_logits)])  # fmt: skip

    expected = terms(h1, models.pyramid(y1, acting), trainer.generator(h1, a1), a1)
    expected += terms(h2, models.pyramid(y2, acting), models.pyramid(y3, acting), a2)
    values = trainer.train_step(g_clips, d_clips, extra, actions)
    np.testing.assert_allclose(values["d_scales"], expected, rtol=1e-5)

    found = trainer.diagnostics(g_clips, d_clips, actions[:2])
    sigmoid_means = lambda logits: [np.mean(1 / (1 + np.exp(-x.numpy()))) for x in logits]  # noqa: E731
    real = sigmoid_means(trainer.discriminator(h1, models.pyramid(y1, acting), a1))
    fake = trainer.discriminator(h1, trainer.generator(h1, a1), a1)
    np.testing.assert_allclose(found["d_real"], real, rtol=1e-5)
    np.testing.assert_allclose(found["d_fake"], sigmoid_means(fake), rtol=1e-5)
    np.testing.assert_allclose(trainer.d_real(d_clips, actions[1]), real, rtol=1e-5)
    np.testing.assert_allclose(trainer.d_scores(d_clips, actions[1])["real"], real, rtol=1e-5)
    with pytest.raises(ConfigError, match="this model is action-conditioned"):
        trainer.d_real(d_clips)


def test_held_out_clips_come_with_their_frames_actions(tmp_path):
    write_indexed_video(tmp_path / "Test" / "v", 30, seed=3)
    written = write_actions(tmp_path, seed=4)["v"]
    acting = dataclasses.replace(TINY, actions=ACTION_SET)
    clips, actions = train_lib.heldout_examples(tmp_path / "Test", acting, seed=0, count=10)
    np.testing.assert_array_equal(
        clips, train_lib.heldout_examples(tmp_path / "Test", TINY, 0, 10)[0]
    )
    expected = np.array([ACTION_SET.index(name) for name in written])
    np.testing.assert_array_equal(actions, expected[frame_indices(clips)])
    assert train_lib.heldout_examples(tmp_path / "Test", TINY, 0, 10)[1] is None
