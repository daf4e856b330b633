"""The TF1 approach's step (avgkit.bench.tf1): its networks, its summed losses against numpy,
and that its updates train."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from avgkit import config
from avgkit.bench.tf1 import TF1Step
from avgkit.data.pipeline import split_clip, to_unit
from avgkit.models import pyramid


@pytest.fixture(scope="module")
def clips():
    """Ms. Pac-Man-like uint8 clips: a smooth gradient image moving one pixel a frame."""
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (8, 40, 40, 3)).astype(np.float64)
    frames = [np.roll(base, shift, axis=2)[:, :32, :32] for shift in range(5)]
    return np.concatenate(frames, axis=-1).astype(np.uint8)


def mean_pool(images, factor):
    b, h, w, c = images.shape
    return images.reshape(b, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


@pytest.mark.parametrize(
    "name, generator, discriminator",
    # official: REFERENCE.md's counts; tiny by hand (3x3 kernels, see config.PRESETS)
    [
        ("official", 223_644, 2_128_548),
        (
            "tiny",
            (12 * 8 * 9 + 8 + 8 * 3 * 9 + 3)
            + 3 * (15 * 8 * 9 + 8 + 8 * 3 * 9 + 3)
            + 2 * (8 * 8 * 9 + 8),
            (15 * 4 * 9 + 4 + 4 * 16 + 16 + 17)
            + (15 * 4 * 9 + 4 + 9 * 4 * 16 + 16 + 17)
            + (15 * 8 * 9 + 8 + 49 * 8 * 16 + 16 + 17)
            + (15 * 8 * 9 + 8 + 8 * 8 * 9 + 8 + 14 * 14 * 8 * 16 + 16 + 17),
        ),
    ],
)
def test_networks_are_the_presets(name, generator, discriminator):
    step = TF1Step(config.preset(name))
    assert step.parameters == {"generator": generator, "discriminator": discriminator}


def test_losses_are_sums_as_numpy_computes_them(clips):
    c = config.preset("tiny")
    step = TF1Step(c)
    values = step.evaluate(clips)
    unit = clips.astype(np.float64) / 127.5 - 1
    target = unit[..., 12:]
    lp, gdl = [], []
    for prediction, factor in zip(values["predictions"], c.scale_factors, strict=True):
        t = mean_pool(target, factor)
        assert prediction.shape == t.shape
        lp.append(np.sum(np.abs(prediction - t) ** c.l_num))
        gdl.append(
            sum(
                np.sum(np.abs(np.abs(np.diff(t, axis=a)) - np.abs(np.diff(prediction, axis=a))))
                for a in (1, 2)
            )
        )
    np.testing.assert_allclose(values["lp"], lp, rtol=1e-4)
    np.testing.assert_allclose(values["gdl"], gdl, rtol=1e-4)
    # BCE of probabilities clipped to [0.1, 0.9] against "real", summed over a batch of 8
    assert all(-8 * np.log(0.9) - 1e-4 <= adv <= -8 * np.log(0.1) + 1e-4 for adv in values["adv"])
    expected = (
        c.lam_lp * np.mean(lp) + c.lam_gdl * np.mean(gdl) + c.lam_adv * np.mean(values["adv"])
    )
    assert values["g_loss"] == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("adversarial", [True, False])
def test_steps_train_g(clips, adversarial):
    step = TF1Step(config.preset("tiny"), adversarial=adversarial)
    before = step.evaluate(clips)["g_loss"]
    for _ in range(5):
        values = step.train_step(clips, clips)
    assert ("d_loss" in values) == adversarial
    assert step.evaluate(clips)["g_loss"] < before


def test_g_step_fetches_psnr_and_sharpness_as_numpy_computes_them(clips):
    """As the TF1 code's G step does every step: peak 1 on [-1, 1], SAME [-1, 1] differences."""
    step = TF1Step(config.preset("tiny"), adversarial=False)
    prediction = step.evaluate(clips)["predictions"][-1].astype(np.float64)
    values = step.train_step(clips, clips)  # its metrics are of the forward pass before the update
    target = clips[..., 3 * step.config.hist_len :].astype(np.float64) / 127.5 - 1

    def gradient_sum(frames):  # a SAME convolution pads the far side with a zero
        return sum(np.abs(np.diff(frames, axis=a, append=0.0)) for a in (1, 2))

    mse = np.mean((target - prediction) ** 2, axis=(1, 2, 3))
    sharp = np.mean(np.abs(gradient_sum(target) - gradient_sum(prediction)), axis=(1, 2, 3))
    assert values["psnr"] == pytest.approx(np.mean(10 * np.log10(1 / mse)), rel=1e-4)
    assert values["sharp_diff"] == pytest.approx(np.mean(10 * np.log10(1 / sharp)), rel=1e-4)


def test_d_scores_its_frames_in_one_batch_as_numpy_sums_them(clips):
    """D's loss: per scale, BCE summed over generated (0), real (1), the extra real (1) and
    mismatched (0) frames, averaged over the scales; here D scores each group alone and numpy
    sums the BCE."""
    c = config.preset("official")
    step = TF1Step(c)
    other = clips[::-1]
    extra = np.stack([other, np.roll(clips, 1, axis=0)])
    unit = [to_unit(x) for x in (clips, other, extra[1])]
    (history, target), (history2, target2), (_, target3) = (split_clip(u, c.hist_len) for u in unit)
    fakes = step.evaluate(clips)["predictions"]  # G's frames before the update, coarse to fine
    with step.graph.as_default():  # D's graph again, one call per group

        def real(frame):
            return pyramid(tf.constant(frame), c)

        groups = [
            (history, [tf.constant(f) for f in fakes], 0.0),
            (history, real(target), 1.0),
            (history2, real(target2), 1.0),
            (history2, real(target3), 0.0),
        ]
        scores = [step._discriminator(tf.constant(h), frames) for h, frames, _ in groups]
    probabilities = step.session.run(scores)  # per group, per scale: (8, 1)
    per_scale = [
        sum(
            -np.sum(label * np.log(p[k]) + (1 - label) * np.log(1 - p[k]))
            for p, (_, _, label) in zip(probabilities, groups, strict=True)
        )
        for k in range(len(c.scale_factors))
    ]
    got = step.train_step(clips, clips, extra)["d_loss"]  # fetched with the update, before it
    assert got == pytest.approx(np.mean(per_scale), rel=1e-5)
