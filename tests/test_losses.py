"""The losses against independent numpy computations, the weights of the combined loss, and the
adversarial gradient reaching every generator variable (the TF1 implementation's defect)."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from avgkit import config, losses, models


def images(seed, shape=(2, 5, 6, 3)):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def numpy_lp(pred, target, p):
    """The paper's ||Y_hat - Y||_p^p over the number of values."""
    return np.sum(np.abs(pred.astype(np.float64) - target) ** p) / target.size


def numpy_gdl(pred, target, alpha):
    """The paper's GDL, pixel by pixel, over the number of values."""
    y, yh = target.astype(np.float64), pred.astype(np.float64)
    batch, height, width, channels = y.shape
    total = 0.0
    for n in range(batch):
        for i in range(height):
            for j in range(width):
                for c in range(channels):
                    if i > 0:
                        true = abs(y[n, i, j, c] - y[n, i - 1, j, c])
                        made = abs(yh[n, i, j, c] - yh[n, i - 1, j, c])
                        total += abs(true - made) ** alpha
                    if j > 0:
                        true = abs(y[n, i, j - 1, c] - y[n, i, j, c])
                        made = abs(yh[n, i, j - 1, c] - yh[n, i, j, c])
                        total += abs(true - made) ** alpha
    return total / y.size


def numpy_bce(logits, label):
    """Mean of -[y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))], for moderate logits."""
    probability = 1 / (1 + np.exp(-np.asarray(logits, np.float64)))
    return np.mean(-(label * np.log(probability) + (1 - label) * np.log(1 - probability)))


@pytest.mark.parametrize("p", [1, 2])
def test_lp_loss_matches_numpy(p):
    pred, target = images(0), images(1)
    np.testing.assert_allclose(losses.lp_loss(pred, target, p), numpy_lp(pred, target, p), 1e-5)


@pytest.mark.parametrize("alpha", [1, 2])
def test_gdl_loss_matches_numpy(alpha):
    pred, target = images(2), images(3)
    np.testing.assert_allclose(
        losses.gdl_loss(pred, target, alpha), numpy_gdl(pred, target, alpha), 1e-5
    )


def test_gdl_ignores_a_constant_shift_and_sees_lost_edges():
    target = images(4)
    assert float(losses.gdl_loss(target + 0.3, target, 1)) == pytest.approx(0, abs=1e-6)
    blurred = np.full_like(target, target.mean())
    assert float(losses.gdl_loss(blurred, target, 1)) > 0.1


def test_adversarial_losses_match_numpy():
    real, fake = np.array([[2.0], [-0.5], [0.1]]), np.array([[-1.5], [0.7], [3.0]])
    real, fake = real.astype(np.float32), fake.astype(np.float32)
    np.testing.assert_allclose(
        losses.d_adversarial_loss(real, fake), numpy_bce(real, 1) + numpy_bce(fake, 0), 1e-5
    )
    np.testing.assert_allclose(losses.g_adversarial_loss(fake), numpy_bce(fake, 1), 1e-5)


def test_adversarial_losses_are_stable_for_extreme_logits():
    sure_real, sure_fake = tf.constant([[1000.0]]), tf.constant([[-1000.0]])
    assert float(losses.g_adversarial_loss(sure_fake)) == pytest.approx(1000)
    assert float(losses.g_adversarial_loss(sure_real)) == pytest.approx(0, abs=1e-6)
    assert float(losses.d_adversarial_loss(sure_real, sure_fake)) == pytest.approx(0, abs=1e-6)
    assert float(losses.d_adversarial_loss(sure_fake, sure_real)) == pytest.approx(2000)
    with tf.GradientTape() as tape:
        tape.watch(sure_fake)
        loss = losses.g_adversarial_loss(sure_fake)
    assert np.isfinite(tape.gradient(loss, sure_fake).numpy()).all()


SHAPES = [(2, 4, 4, 3), (2, 8, 8, 3), (2, 16, 16, 3), (2, 32, 32, 3)]


def per_scale_inputs(seed=0):
    predictions = [images(seed + k, shape) for k, shape in enumerate(SHAPES)]
    targets = [images(seed + 10 + k, shape) for k, shape in enumerate(SHAPES)]
    logits = [images(seed + 20 + k, (2, 1)) * 3 for k in range(4)]
    return predictions, targets, logits


@pytest.mark.parametrize(("l_num", "alpha_num"), [(1, 1), (2, 2), (1, 2)])
def test_combined_generator_loss_is_the_weighted_sum_over_scales(l_num, alpha_num):
    cfg = dataclasses.replace(
        config.preset("tiny"),
        lam_adv=0.3,
        lam_lp=0.7,
        lam_gdl=1.9,
        l_num=l_num,
        alpha_num=alpha_num,
    )
    predictions, targets, logits = per_scale_inputs()
    total, terms = losses.combined_generator_loss(predictions, targets, logits, cfg)
    lp = [numpy_lp(p, t, l_num) for p, t in zip(predictions, targets, strict=True)]
    gdl = [numpy_gdl(p, t, alpha_num) for p, t in zip(predictions, targets, strict=True)]
    adv = [numpy_bce(logit, 1) for logit in logits]
    np.testing.assert_allclose(terms["lp"], lp, 1e-5)
    np.testing.assert_allclose(terms["gdl"], gdl, 1e-5)
    np.testing.assert_allclose(terms["adv"], adv, 1e-5)
    expected = 0.3 * sum(adv) + 0.7 * sum(lp) + 1.9 * sum(gdl)
    np.testing.assert_allclose(total, expected, 1e-5)


@pytest.mark.parametrize(
    "change",
    [{"lam_adv": 0.5}, {"lam_lp": 2.0}, {"lam_gdl": 0.0}, {"l_num": 2}, {"alpha_num": 2}],
)
def test_every_weight_and_exponent_changes_the_combined_loss(change):
    cfg = config.preset("tiny")
    predictions, targets, logits = per_scale_inputs()
    before, _ = losses.combined_generator_loss(predictions, targets, logits, cfg)
    after, _ = losses.combined_generator_loss(
        predictions, targets, logits, dataclasses.replace(cfg, **change)
    )
    assert abs(float(after) - float(before)) > 1e-3


def test_non_adversarial_loss_has_no_adversarial_term():
    predictions, targets, _ = per_scale_inputs()
    cfg = config.preset("tiny")
    total, terms = losses.combined_generator_loss(predictions, targets, None, cfg)
    assert set(terms) == {"lp", "gdl"}
    expected = cfg.lam_lp * tf.reduce_sum(terms["lp"]) + cfg.lam_gdl * tf.reduce_sum(terms["gdl"])
    np.testing.assert_allclose(total, expected, 1e-6)
    other, _ = losses.combined_generator_loss(
        predictions, targets, None, dataclasses.replace(cfg, lam_adv=10.0)
    )
    assert float(other) == float(total)


def test_combined_discriminator_loss_sums_the_scales():
    _, _, real = per_scale_inputs(0)
    _, _, fake = per_scale_inputs(1)
    total, per_scale = losses.combined_discriminator_loss(real, fake)
    expected = [numpy_bce(r, 1) + numpy_bce(f, 0) for r, f in zip(real, fake, strict=True)]
    np.testing.assert_allclose(per_scale, expected, 1e-5)
    np.testing.assert_allclose(total, sum(expected), 1e-5)


def test_scale_count_mismatch_is_a_clear_error():
    predictions, targets, logits = per_scale_inputs()
    cfg = config.preset("tiny")
    with pytest.raises(ValueError, match="targets has 3 scales; expected 4"):
        losses.combined_generator_loss(predictions, targets[1:], logits, cfg)
    with pytest.raises(ValueError, match="3 scales of real logits and 4 of fake"):
        losses.combined_discriminator_loss(logits[1:], logits)


@pytest.fixture(scope="module")
def tiny_models():
    keras.utils.set_random_seed(3)
    cfg = config.preset("tiny")
    history = images(30, (4, 32, 32, 12))
    target = images(31, (4, 32, 32, 3))
    return cfg, models.build_generator(cfg), models.build_discriminator(cfg), history, target


def test_adversarial_term_sends_a_gradient_into_every_generator_variable(tiny_models):
    """The TF1 code fed D's output back through a separate session run: no gradient reached G."""
    cfg, generator, discriminator, history, target = tiny_models
    adversarial_only = dataclasses.replace(cfg, lam_adv=1.0, lam_lp=0.0, lam_gdl=0.0)
    with tf.GradientTape() as tape:
        predictions = generator(history)
        logits = discriminator(history, predictions)
        targets = models.pyramid(target, cfg)
        total, _ = losses.combined_generator_loss(predictions, targets, logits, adversarial_only)
    gradients = tape.gradient(total, generator.trainable_variables)
    assert len(gradients) == len(generator.trainable_variables) > 0
    for variable, gradient in zip(generator.trainable_variables, gradients, strict=True):
        assert gradient is not None, variable.path
        assert float(tf.norm(gradient)) > 0, variable.path


def test_non_adversarial_training_needs_and_touches_no_discriminator(tiny_models):
    cfg, generator, discriminator, history, target = tiny_models
    with tf.GradientTape() as tape:
        predictions = generator(history)
        total, _ = losses.combined_generator_loss(
            predictions, models.pyramid(target, cfg), None, cfg
        )
    watched = {id(variable) for variable in tape.watched_variables()}
    assert watched == {id(variable.value) for variable in generator.trainable_variables}
    assert not watched & {id(variable.value) for variable in discriminator.trainable_variables}
    gradients = tape.gradient(total, generator.trainable_variables)
    assert all(float(tf.norm(gradient)) > 0 for gradient in gradients)
