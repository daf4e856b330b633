"""The paper's losses: Lp, gradient difference (GDL), adversarial, and their weighted sum.

Reduction: means, not the paper's sums. Every term is the paper's sum divided by a count: Lp
and GDL by the number of values in the target (batch * H * W * 3), the adversarial terms by the
batch size, as in the official Torch code (Torch's criteria average by default). The TF1 code
summed instead (`reduce_sum` over batch and pixels), so its lam_adv = 0.05 weighed thousands of
times less beside Lp than the same number here. With sums, the full-size scale would outweigh
the 1/8 scale 64 times, the loss would grow with crop and batch size, and the adversarial
term (one number per clip) would vanish beside the Lp sum over 3072 values of a 32x32 crop at
the paper's lam_adv = 0.05. With means each scale counts alike and the weights keep their
meaning.

Frames are (batch, H, W, 3) float32 in [-1, 1]; logits are D's outputs (batch, 1), before the
sigmoid. The BCE uses tf.nn.sigmoid_cross_entropy_with_logits, stable for any logit.
"""

from __future__ import annotations

import tensorflow as tf

from avgkit.config import Config


def combined_generator_loss(predictions, targets, fake_logits, config: Config):
    """The paper's combined loss: L_G = sum over scales k of
    lam_adv L_adv,k + lam_lp L_p,k + lam_gdl L_gdl,k, p = config.l_num, alpha = config.alpha_num.

    predictions, targets: per-scale lists, coarse to fine, (batch, H_k, W_k, 3) in [-1, 1]
    (the generator's output and `models.pyramid(target, config)`); fake_logits: D's per-scale
    logits on the predictions, or None for non-adversarial training (no adversarial term, no D).
    Returns (total, terms): a scalar, and a dict of the unweighted per-scale values, each of
    shape (num_scales,): "lp", "gdl" and, when adversarial, "adv".
    """
    _check_scales(config, predictions=predictions, targets=targets, fake_logits=fake_logits)
    pairs = list(zip(predictions, targets, strict=True))
    terms = {
        "lp": tf.stack([lp_loss(pred, target, config.l_num) for pred, target in pairs]),
        "gdl": tf.stack([gdl_loss(pred, target, config.alpha_num) for pred, target in pairs]),
    }
    total = config.lam_lp * tf.reduce_sum(terms["lp"])
    total += config.lam_gdl * tf.reduce_sum(terms["gdl"])
    if fake_logits is not None:
        terms["adv"] = tf.stack([g_adversarial_loss(logits) for logits in fake_logits])
        total += config.lam_adv * tf.reduce_sum(terms["adv"])
    return total, terms


def combined_discriminator_loss(real_logits, fake_logits):
    """L_D = sum over scales of `d_adversarial_loss` (paper: adversarial training).

    real_logits, fake_logits: per-scale lists of D's logits (batch, 1) on real and generated
    frames. Returns (total, per_scale) with per_scale of shape (num_scales,).
    """
    if len(real_logits) != len(fake_logits):
        raise ValueError(
            f"got {len(real_logits)} scales of real logits and {len(fake_logits)} of fake "
            "ones; expected the same number"
        )
    per_scale = tf.stack(
        [
            d_adversarial_loss(real, fake)
            for real, fake in zip(real_logits, fake_logits, strict=True)
        ]
    )
    return tf.reduce_sum(per_scale), per_scale


def lp_loss(pred, target, p: int):
    """mean |pred - target|^p (the paper's ||Y_hat - Y||_p^p over the number of values)."""
    return tf.reduce_mean(tf.abs(pred - target) ** p)


def gdl_loss(pred, target, alpha: int):
    """The paper's gradient difference loss, divided by the number of values in `target`:

    sum_ij ||Y[i,j] - Y[i-1,j]| - |Yh[i,j] - Yh[i-1,j]||^alpha
         + ||Y[i,j-1] - Y[i,j]| - |Yh[i,j-1] - Yh[i,j]||^alpha, pairs inside the frame only.
    """
    (target_i, target_j), (pred_i, pred_j) = _abs_gradients(target), _abs_gradients(pred)
    total = tf.reduce_sum(tf.abs(target_i - pred_i) ** alpha) + tf.reduce_sum(
        tf.abs(target_j - pred_j) ** alpha
    )
    return total / tf.cast(tf.size(target), total.dtype)


def d_adversarial_loss(real_logits, fake_logits):
    """BCE(D(real), 1) + BCE(D(fake), 0), each a mean over the batch (one scale)."""
    return _bce(real_logits, 1.0) + _bce(fake_logits, 0.0)


def g_adversarial_loss(fake_logits):
    """BCE(D(generated), 1), a mean over the batch (one scale): G's adversarial term."""
    return _bce(fake_logits, 1.0)


def _bce(logits, label: float):
    labels = tf.fill(tf.shape(logits), tf.constant(label, logits.dtype))
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


def _abs_gradients(images):
    """|Y[i,j] - Y[i-1,j]| (batch, H-1, W, c) and |Y[i,j-1] - Y[i,j]| (batch, H, W-1, c)."""
    return (
        tf.abs(images[:, 1:, :, :] - images[:, :-1, :, :]),
        tf.abs(images[:, :, 1:, :] - images[:, :, :-1, :]),
    )


def _check_scales(config: Config, **lists) -> None:
    scales = len(config.scale_factors)
    for name, values in lists.items():
        if values is not None and len(values) != scales:
            raise ValueError(
                f"{name} has {len(values)} scales; expected {scales}, one per entry of "
                f"scale_factors {list(config.scale_factors)}, coarse to fine"
            )
