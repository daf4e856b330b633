"""Quick image-quality figures on a training batch or test rollout, for logs and TensorBoard.

Minimal on purpose: whole frames, no moving-area mask, no quantization to uint8. The evaluation's
metrics (moving areas, SSIM) are in avgkit.metrics.
"""

from __future__ import annotations

import tensorflow as tf

from avgkit.metrics import DB_CEILING, PIXEL_MAX


def batch_psnr(prediction, target):
    """Mean over frames of 10 log10(255^2 / MSE); frames (n, H, W, 3) in [-1, 1] taken to
    [0, 255]. Returns a float32 scalar in dB."""
    error = tf.reduce_mean(tf.square((prediction - target) * 127.5), axis=[1, 2, 3])
    return tf.reduce_mean(_decibels(error))


def batch_sharp_diff(prediction, target):
    """Mean over frames of the paper's sharpness difference, in dB:
    10 log10(255^2 / mean_ij |(gi Y + gj Y) - (gi Yh + gj Yh)|), gi Y = |Y[i,j] - Y[i-1,j]|,
    gj Y = |Y[i,j] - Y[i,j-1]| on interior pixels (i, j >= 1); frames as in `batch_psnr`."""

    def gradient_sum(images):
        images = images * 127.5
        rows = tf.abs(images[:, 1:, 1:] - images[:, :-1, 1:])
        columns = tf.abs(images[:, 1:, 1:] - images[:, 1:, :-1])
        return rows + columns

    error = tf.reduce_mean(tf.abs(gradient_sum(target) - gradient_sum(prediction)), axis=[1, 2, 3])
    return tf.reduce_mean(_decibels(error))


def _decibels(error):
    """10 log10(255^2 / error), at most avgkit.metrics.DB_CEILING (50 dB, a zero error)."""
    decibels = 10.0 * tf.math.log(PIXEL_MAX**2 / error) / tf.math.log(10.0)
    return tf.minimum(decibels, DB_CEILING)
