"""Recursive full-frame predictions (rollouts): each predicted frame becomes the newest input."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def rollout(generator, inputs, recursions: int, batch_size: int = 8) -> np.ndarray:
    """Predict `recursions` frames after each history, each from the frames before it.

    generator: G from `avgkit.models.build_generator` (fully convolutional: any frame size);
    inputs: float (N, H, W, 3 * hist_len) in [-1, 1], the input frames in time order.
    Prediction r (0-based) sees the last hist_len frames of inputs + predictions 0..r-1.
    Returns float32 (N, recursions, H, W, 3) in (-1, 1); histories go `batch_size` at a time.
    """
    inputs = np.asarray(inputs, np.float32)
    outputs = np.empty((len(inputs), recursions, *inputs.shape[1:3], 3), np.float32)
    for first in range(0, len(inputs), batch_size):
        history = tf.constant(inputs[first : first + batch_size])
        for r in range(recursions):
            frame = generator(history)[-1]  # the full-size scale
            outputs[first : first + batch_size, r] = frame.numpy()
            history = tf.concat([history[..., 3:], frame], axis=-1)
    return outputs
