"""`Config.adv_gradient_cap`: G's update weighs each scale's adversarial term so that its
gradient on G's prediction is at most C times the Lp + GDL gradient there. Checked against the
weights computed by hand (one tape per term and scale, the norms and the minimum in numpy)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from avgkit import config, losses, models
from avgkit import train as train_lib
from avgkit.data.pipeline import split_clip, to_unit
from avgkit.errors import ConfigError

CAP = 0.02  # small enough to bind at some scales of a fresh tiny D


def tiny(cap: float = 0.0) -> config.Config:
    return dataclasses.replace(config.preset("tiny"), adv_gradient_cap=cap)


def clips(seed: int) -> np.ndarray:
    """uint8 (4, 32, 32, 15): 4 + 1 random frames stacked on channels."""
    return np.random.default_rng(seed).integers(0, 256, (4, 32, 32, 15), dtype=np.uint8)


def hand_norms(trainer, history, target) -> tuple[np.ndarray, np.ndarray]:
    """Per scale, |dA_k/dY_k| and |dR_k/dY_k|, each gradient from its own tape."""
    cfg = trainer.config
    predictions = trainer.generator(history)
    targets = models.pyramid(target, cfg)
    norms = []
    for k, (prediction, truth) in enumerate(zip(predictions, targets, strict=True)):
        with tf.GradientTape() as tape:
            tape.watch(prediction)
            logits = trainer.discriminator(history, predictions)
            adversarial = cfg.lam_adv * losses.g_adversarial_loss(logits[k])
        a = tape.gradient(adversarial, prediction).numpy()
        with tf.GradientTape() as tape:
            tape.watch(prediction)
            regression = cfg.lam_lp * losses.lp_loss(prediction, truth, cfg.l_num)
            regression += cfg.lam_gdl * losses.gdl_loss(prediction, truth, cfg.alpha_num)
        r = tape.gradient(regression, prediction).numpy()
        norms.append((np.linalg.norm(a), np.linalg.norm(r)))
    return np.array(norms).T


def hand_weights(trainer, history, target) -> np.ndarray:
    """w_k = min(1, C |dR_k/dY_k| / |dA_k/dY_k|)."""
    a, r = hand_norms(trainer, history, target)
    return np.minimum(1.0, trainer.config.adv_gradient_cap * r / a)


def hand_loss(trainer, history, target, weights):
    """sum over scales of lam_lp L_p + lam_gdl L_gdl + w_k lam_adv L_adv, w constant."""
    cfg = trainer.config
    predictions = trainer.generator(history)
    logits = trainer.discriminator(history, predictions)
    _, terms = losses.combined_generator_loss(predictions, models.pyramid(target, cfg), logits, cfg)
    regression = cfg.lam_lp * tf.reduce_sum(terms["lp"]) + cfg.lam_gdl * tf.reduce_sum(terms["gdl"])
    return regression + cfg.lam_adv * tf.reduce_sum(tf.constant(weights, tf.float32) * terms["adv"])


def g_gradients(trainer, loss_of):
    variables = trainer.generator.trainable_variables
    with tf.GradientTape() as tape:
        loss = loss_of()
    return loss, tape.gradient(loss, variables)


def test_the_capped_loss_and_its_gradient_match_the_weights_computed_by_hand():
    trainer = train_lib.Trainer(tiny(CAP), adversarial=True, seed=0)
    history, target = split_clip(to_unit(clips(1)), trainer.config.hist_len)
    weights = hand_weights(trainer, history, target)
    assert weights.min() < 1.0, weights  # the cap binds somewhere, or nothing is tested
    got, got_grads = g_gradients(trainer, lambda: trainer.rollout_loss(history, [target])[0])
    want, want_grads = g_gradients(trainer, lambda: hand_loss(trainer, history, target, weights))
    np.testing.assert_allclose(float(got), float(want), rtol=1e-5)
    for g, w in zip(got_grads, want_grads, strict=True):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-4, atol=1e-7)


def test_a_cap_that_never_binds_leaves_the_papers_loss():
    history, target = split_clip(to_unit(clips(2)), config.HIST_LEN)
    results = []
    for cap in (0.0, 1e9):
        trainer = train_lib.Trainer(tiny(cap), adversarial=True, seed=0)
        results.append(g_gradients(trainer, lambda t=trainer: t.rollout_loss(history, [target])[0]))
    (loss0, grads0), (loss1, grads1) = results
    np.testing.assert_allclose(float(loss1), float(loss0), rtol=1e-6)
    for g0, g1 in zip(grads0, grads1, strict=True):
        np.testing.assert_allclose(g1.numpy(), g0.numpy(), rtol=1e-5, atol=1e-8)


def test_the_share_diagnostic_shows_ds_uncapped_share_that_the_cap_bounds():
    trainer = train_lib.Trainer(tiny(CAP), adversarial=True, seed=0)
    shown = trainer.diagnostics(clips(3), clips(4))["adv_share"]
    history, target = split_clip(to_unit(clips(3)), trainer.config.hist_len)
    a, r = hand_norms(trainer, history, target)
    np.testing.assert_allclose(shown, a / (a + r), rtol=1e-4)
    w = hand_weights(trainer, history, target)
    taken = w * a / (w * a + r)  # the share of the gradient the capped update takes
    assert shown.max() > CAP / (1 + CAP)  # D wins somewhere: the cap binds
    np.testing.assert_allclose(taken, np.minimum(shown, CAP / (1 + CAP)), rtol=1e-4)


def test_a_capped_rollout_step_trains_in_the_compiled_step():
    cfg = dataclasses.replace(tiny(CAP), curriculum=((2, 10),))
    trainer = train_lib.Trainer(cfg, adversarial=True, seed=0)
    rng = np.random.default_rng(5)
    g_clips, d_clips = (rng.integers(0, 256, (8, 32, 32, 18), dtype=np.uint8) for _ in range(2))
    before = [v.numpy() for v in trainer.generator.trainable_variables]
    values = trainer.train_step(g_clips, d_clips)
    assert all(np.all(np.isfinite(v)) for v in values.values())
    moved = [
        not np.allclose(b, v.numpy()) for b, v in zip(before, trainer.generator.trainable_variables)
    ]
    assert any(moved)


def test_the_cap_is_checked_and_kept_out_of_old_configs():
    for bad in (-1, float("inf")):
        with pytest.raises(
            ConfigError, match=rf"adv_gradient_cap must be a finite number >= 0; got {bad}"
        ):
            tiny(bad)
    assert "adv_gradient_cap" not in config.preset("official").to_dict()  # old config.json
    assert config.from_dict(tiny(0.5).to_dict()).adv_gradient_cap == 0.5
