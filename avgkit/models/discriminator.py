"""The multi-scale discriminator (paper section 2.2): one D_k per scale judges a sequence.

D_k sees the input frames at scale k with the real or the generated frame at scale k stacked on
the last axis (`config.d_sees_history`, the paper), or the frame alone (False, the TF1 code);
an action-conditioned D (`config.actions`) also sees the action taken towards the frame, as
one-hot planes after it (`avgkit.models.generator.with_actions`), so it judges whether the frame
follows its history under that action.
It outputs a logit, not a probability: the losses apply a numerically stable sigmoid
cross-entropy. Its fully connected layers fix it to crop_size x crop_size clips (32x32).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from avgkit.config import Config
from avgkit.errors import DataError
from avgkit.models.generator import check_actions, check_history, pyramid, with_actions
from avgkit.models.per_scale import PerScaleModel


def concat_batches(histories, pyramids) -> tuple[tf.Tensor, list[tf.Tensor]]:
    """Several batches as one, in order on the batch axis, for one D call (D scores each clip on
    its own, so the logits split back): histories, each (B, crop, crop, 3 * hist_len), ->
    (n * B, ...); pyramids, each a list coarse to fine of (B, H_k, W_k, 3), -> one such list of
    (n * B, H_k, W_k, 3)."""
    levels = [tf.concat(level, axis=0) for level in zip(*pyramids, strict=True)]
    return tf.concat(histories, axis=0), levels


def build_discriminator(config: Config) -> Discriminator:
    """The paper's discriminator: D(history, frames[, actions]) -> a list of logits (batch, 1),
    one per scale.

    history: (batch, crop, crop, 3 * hist_len) in [-1, 1], the full-size input frames (ignored
    when `config.d_sees_history` is False);
    frames: per-scale frames (batch, crop / f, crop / f, 3), coarse to fine, real
    (`pyramid(target, config)`) or generated (the generator's output list);
    actions: with `config.actions` only, int (batch,), the action taken towards the frames.
    """
    return Discriminator(config)


class Discriminator(PerScaleModel):
    """One D_k per scale; `scales[k]` is D_k (see `build_scale_discriminator`)."""

    def __init__(self, config: Config):
        super().__init__(config, "discriminator", build_scale_discriminator)

    def __call__(self, history, frames, actions=None, *args, **kwargs):
        # Checked before Keras's __call__, which would wrap the error in its own report.
        self._check(history, frames)
        check_actions(actions, frames[-1], self.config, "discriminator")
        if actions is None:
            return super().__call__(history, frames, *args, **kwargs)
        return super().__call__(history, frames, actions, *args, **kwargs)

    def call(self, history, frames, actions=None):
        if not self.config.d_sees_history:
            inputs = frames
        else:
            inputs = [
                tf.concat([x_k, frame], axis=-1)
                for x_k, frame in zip(pyramid(history, self.config), frames, strict=True)
            ]
        return [
            d_k(with_actions(x, actions, self.config))
            for d_k, x in zip(self.scales, inputs, strict=True)
        ]

    def _check(self, history, frames) -> None:
        config, crop = self.config, self.config.crop_size
        if config.d_sees_history:
            check_history(history, config, "discriminator history")
            if tuple(history.shape[1:3]) != (crop, crop):
                raise DataError(
                    f"discriminator history is {history.shape[1]}x{history.shape[2]} px; "
                    f"expected crop_size x crop_size = {crop}x{crop} (the fully connected "
                    "layers fix the size)"
                )
        if len(frames) != len(config.scale_factors):
            raise DataError(
                f"discriminator got {len(frames)} frames; expected one per scale, "
                f"{len(config.scale_factors)} (coarse to fine, as the generator returns them)"
            )
        for k, (frame, factor) in enumerate(zip(frames, config.scale_factors, strict=True)):
            expected = (crop // factor, crop // factor, 3)
            if tuple(frame.shape[1:]) != expected:
                raise DataError(
                    f"discriminator frame {k} has shape {tuple(frame.shape)}; "
                    f"expected (batch, {', '.join(map(str, expected))})"
                )


def build_scale_discriminator(config: Config, k: int) -> keras.Model:
    """D_k: (batch, s, s, c) -> logit (batch, 1), s = crop_size / scale_factors[k].

    c = 3 * hist_len + 3 with the history (the frame after it), 3 without, + n_actions one-hot
    action planes last with `config.actions`. VALID convolutions
    `d_feature_maps[k]` with kernels `d_kernel_sizes[k]` and ReLU, a 2x2 max-pool where
    `d_max_pool[k]`, flatten, fully connected `d_fc_sizes[k]` with ReLU, then one linear unit
    (float32).
    """
    size = config.crop_size // config.scale_factors[k]
    channels = (3 * config.hist_len + 3 if config.d_sees_history else 3) + len(config.actions)
    x = inputs = keras.Input(shape=(size, size, channels), name=f"d{k}_input")
    for i, (filters, kernel) in enumerate(
        zip(config.d_feature_maps[k], config.d_kernel_sizes[k], strict=True)
    ):
        x = keras.layers.Conv2D(
            filters, kernel, padding="valid", activation="relu", name=f"d{k}_conv{i}"
        )(x)
    if config.d_max_pool[k]:
        x = keras.layers.MaxPooling2D(2, name=f"d{k}_pool")(x)
    x = keras.layers.Flatten(name=f"d{k}_flatten")(x)
    for i, units in enumerate(config.d_fc_sizes[k]):
        x = keras.layers.Dense(units, activation="relu", name=f"d{k}_fc{i}")(x)
    logit = keras.layers.Dense(1, dtype="float32", name=f"d{k}_logit")(x)
    return keras.Model(inputs, logit, name=f"discriminator_scale{k}")
