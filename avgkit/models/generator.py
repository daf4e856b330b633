"""The paper's multi-scale generator: Y_k = tanh(u(Y_{k-1}) + G'_k(X_k, u(Y_{k-1}))).

Sizes. Scale k works at ceil(H / f) x ceil(W / f), f = config.scale_factors[k] (8, 4, 2, 1):
- `downsample` is f x f average pooling, stride f, padding 'same', as the official Torch code's
  average pooling. When H or W does not divide by f, TensorFlow's SAME rule pads evenly on both
  sides (the odd pixel at the bottom / right) and the edge cells average only the real pixels.
- `upsample_to` resizes to the exact size of the next scale with nearest neighbour (half-pixel
  centres): an exact 2x step repeats every pixel 2x2 (the Torch code's nearest upsampling), and
  210x160 frames give scales of 27x20, 53x40, 105x80 and 210x160. When both sizes are known
  when the graph is traced and the step is exactly 2x (training crops), it is written as that
  repeat, whose gradient XLA compiles; other sizes go through `tf.image.resize`, which has no
  XLA kernel for its gradient.
`pyramid` applies the same rule to targets, so losses and the discriminator see what G sees.

Actions (`config.actions`, `avgkit train --actions`): G also gets the action taken towards the
frame it predicts (the one held while the emulator produced it), in one of two ways.
- Planes (the default): n_actions one-hot channels, constant over the image, appended to the
  input of every scale (`with_actions`). They cost n_actions * k^2 * first-layer maps a scale.
  A constant plane can only add the same bias to a map everywhere in the image.
- Gates (`config.action_gates`): every hidden map of every scale is multiplied by 1 + w[a, map],
  a learned weight of the action a and the map. This is Oh et al.'s multiplicative interaction
  (the encoded state times an action embedding) per map, so it acts where a map fires (on
  Ms. Pac-Man, say) and G stays fully convolutional, at any frame size. They cost n_actions *
  (the hidden maps) a scale. Their weights start at zero: a gated G first predicts as if it had
  no actions.
D gets the planes beside the frame it judges. The tests count both by hand. Without actions
nothing is added: G and D are the paper's, weight for weight.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from avgkit.config import Config
from avgkit.errors import DataError
from avgkit.models.per_scale import PerScaleModel


def build_generator(config: Config) -> Generator:
    """The paper's generator: G(frames) -> a list of predictions, coarse to fine.

    frames: (batch, H, W, 3 * hist_len) in [-1, 1], any H, W >= the largest scale factor;
    prediction k: (batch, H_k, W_k, 3) in (-1, 1), H_k x W_k from `scale_sizes`, the last H x W.
    """
    return Generator(config)


class Generator(PerScaleModel):
    """One fully convolutional G'_k per scale in `scales` (see `build_scale_generator`)."""

    def __init__(self, config: Config):
        super().__init__(config, "generator", build_scale_generator)

    def __call__(self, frames, actions=None, *args, **kwargs):
        # Checked before Keras's __call__, which would wrap the error in its own report.
        check_history(frames, self.config, "generator input")
        check_actions(actions, frames, self.config, "generator")
        if actions is None:
            return super().__call__(frames, *args, **kwargs)
        return super().__call__(frames, actions, *args, **kwargs)

    def call(self, frames, actions=None):
        predictions = []
        for x_k, g_k in zip(pyramid(frames, self.config), self.scales, strict=True):
            if not predictions:  # the coarsest scale has no coarser prediction
                residual, base = g_k(self._scale_input(x_k, actions)), 0.0
            else:
                size = x_k.shape[1:3]
                base = upsample_to(
                    predictions[-1], size if size.is_fully_defined() else tf.shape(x_k)[1:3]
                )
                inputs = tf.concat([x_k, base], axis=-1)
                residual = g_k(self._scale_input(inputs, actions))
            predictions.append(tf.tanh(tf.cast(residual, tf.float32) + base))
        return predictions

    def _scale_input(self, images, actions):
        """What a scale reads: `images`, with the action planes, or with the one-hot actions
        (batch, n_actions) beside them for its gates."""
        if actions is None or not self.config.action_gates:
            return with_actions(images, actions, self.config)
        return [images, tf.one_hot(tf.cast(actions, tf.int32), len(self.config.actions))]


def build_scale_generator(config: Config, k: int) -> keras.Model:
    """G'_k, the residual of scale k: (batch, h, w, c) -> (batch, h, w, 3), unbounded.

    c = 3 * hist_len at the coarsest scale, 3 * hist_len + 3 (the upsampled coarser prediction
    next) above, + n_actions one-hot action planes last with `config.actions`. With
    `config.action_gates` there are no planes: it reads [images, one-hot actions (batch,
    n_actions)] and gates each hidden map. SAME convolutions with kernels `g_kernel_sizes[k]`,
    ReLU between them, no activation on the last one: the tanh comes after the coarser
    prediction is added.
    """
    gates = config.action_gates
    channels = 3 * config.hist_len + (3 if k > 0 else 0) + (0 if gates else len(config.actions))
    x = images = keras.Input(shape=(None, None, channels), name=f"g{k}_input")
    if gates:
        actions = keras.Input(shape=(len(config.actions),), name=f"g{k}_actions")
    maps, kernels = config.g_feature_maps[k], config.g_kernel_sizes[k]
    for i, (filters, kernel) in enumerate(zip((*maps, 3), kernels, strict=True)):
        last = i == len(maps)
        x = keras.layers.Conv2D(
            filters,
            kernel,
            padding="same",
            activation=None if last else "relu",
            name=f"g{k}_residual" if last else f"g{k}_conv{i}",
        )(x)
        if gates and not last:  # the map times 1 + w[action, map]
            w = keras.layers.Dense(
                filters, use_bias=False, kernel_initializer="zeros", name=f"g{k}_gate{i}"
            )(actions)
            x = x * (1.0 + keras.ops.expand_dims(keras.ops.expand_dims(w, 1), 1))
    return keras.Model([images, actions] if gates else images, x, name=f"generator_scale{k}")


def unroll(generator, history, steps: int, actions=None) -> list[tuple[tf.Tensor, list[tf.Tensor]]]:
    """G's rollout: `steps` predictions in a row, each from the hist_len frames before it, its
    own earlier predictions included. history: (batch, H, W, 3 * hist_len) in [-1, 1], frames
    in time order; actions: with an action-conditioned G, int (batch, steps), the action taken
    towards each predicted frame. Returns, per step, (the history G saw, its predictions coarse
    to fine); the gradient flows back through every fed-back frame."""
    steps_taken = []
    for k in range(steps):
        predictions = generator(history, None if actions is None else actions[:, k])
        steps_taken.append((history, predictions))
        history = next_history(history, predictions[-1])
    return steps_taken


def with_actions(images, actions, config: Config) -> tf.Tensor:
    """`images` (batch, h, w, c) with the one-hot planes of `actions` appended: (batch, h, w,
    c + n_actions), plane a all ones where the clip's action is a, zeros elsewhere. `images`
    unchanged when actions is None. actions: int (batch,), indices into `config.actions`."""
    if actions is None:
        return images
    one_hot = tf.one_hot(tf.cast(actions, tf.int32), len(config.actions), dtype=images.dtype)
    return tf.concat([images, tf.ones_like(images[..., :1]) * one_hot[:, None, None, :]], -1)


def next_history(history, frame) -> tf.Tensor:
    """The window moved on one frame: history (batch, H, W, 3 * hist_len) without its oldest
    frame, with `frame` (batch, H, W, 3) appended."""
    return tf.concat([history[..., 3:], frame], axis=-1)


def pyramid(images, config: Config) -> list[tf.Tensor]:
    """`images` (batch, H, W, c) at every scale, coarse to fine: (batch, H_k, W_k, c)."""
    return [downsample(images, factor) for factor in config.scale_factors]


def scale_sizes(height: int, width: int, config: Config) -> list[tuple[int, int]]:
    """(H_k, W_k) = (ceil(H / f), ceil(W / f)) for every scale factor f, coarse to fine."""
    return [(math.ceil(height / f), math.ceil(width / f)) for f in config.scale_factors]


def downsample(images, factor: int) -> tf.Tensor:
    """f x f mean pooling, SAME: (batch, H, W, c) -> (batch, ceil(H / f), ceil(W / f), c)."""
    if factor == 1:
        return tf.convert_to_tensor(images)
    return tf.nn.avg_pool2d(images, ksize=factor, strides=factor, padding="SAME")


def upsample_to(images, size) -> tf.Tensor:
    """Nearest-neighbour resize of (batch, h, w, c) to (batch, *size, c); `size` may be a tensor.
    A static size of exactly (2h, 2w) repeats every pixel 2x2, the same pixels as the resize."""
    h, w = images.shape[1:3]
    if isinstance(size, tuple | list | tf.TensorShape) and None not in (h, w):
        if tuple(size) == (2 * h, 2 * w):
            return tf.repeat(tf.repeat(images, 2, axis=1), 2, axis=2)
    return tf.image.resize(images, size, method="nearest")


def check_actions(actions, frames, config: Config, what: str) -> None:
    """Raise DataError unless an action-conditioned model (`config.actions`) gets integer actions
    (batch,), one per clip of `frames`, and a model without actions gets None."""
    count = len(config.actions)
    if actions is None:
        if count:
            raise DataError(
                f"{what}: this model is action-conditioned ({count} actions: "
                f"{', '.join(config.actions)}); expected the action taken towards each frame, "
                "int (batch,)"
            )
        return
    if not count:
        raise DataError(f"{what}: got actions, but this model has none (its config lists none)")
    shape, dtype = tf.TensorShape(actions.shape), tf.as_dtype(actions.dtype)
    if shape.rank != 1 or not dtype.is_integer:
        raise DataError(
            f"{what} actions are {dtype.name} {tuple(shape)}; expected int (batch,), an index "
            "into the action set per clip"
        )
    batch = tf.TensorShape(frames.shape)[0]
    if None not in (shape[0], batch) and shape[0] != batch:
        raise DataError(f"{what} got {shape[0]} actions for {batch} clips; expected one a clip")


def check_history(frames, config: Config, what: str) -> None:
    """Raise DataError unless `frames` is (batch, H, W, 3 * hist_len) with H, W >= the largest
    scale factor. Checks what is known statically (always, when called eagerly)."""
    shape = tf.TensorShape(frames.shape)
    channels = 3 * config.hist_len
    if shape.rank != 4:
        raise DataError(
            f"{what} has shape {shape}; expected (batch, height, width, {channels}): "
            f"{config.hist_len} RGB frames stacked on the last axis"
        )
    if shape[-1] is not None and shape[-1] != channels:
        raise DataError(
            f"{what} has {shape[-1]} channels; expected 3 * hist_len = {channels} "
            f"(hist_len = {config.hist_len} RGB frames stacked on the last axis)"
        )
    smallest = config.scale_factors[0]
    for axis, name in ((1, "height"), (2, "width")):
        if shape[axis] is not None and shape[axis] < smallest:
            raise DataError(
                f"{what} has {name} {shape[axis]}; expected at least {smallest} px, the largest "
                f"scale factor in scale_factors {list(config.scale_factors)}"
            )
