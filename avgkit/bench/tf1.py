"""The TF1 implementation's training step, rebuilt from its description to be timed beside
avgkit's `Trainer` in the same process (`avgkit.bench.train`).

How the TF1 code trains (REFERENCE.md, "The TensorFlow 1 implementation"; its `d_model.py` and
`g_model.py`, `train_step`): one graph built once under `tf.compat.v1`, variables made by hand
and `tf.nn.conv2d`; a step is one `Session.run` of D's update on a batch fed from numpy, D
scoring the generated and the real frames in one batch of 2B (generated first, labelled 0, then
real, labelled 1), then one of G's update on a fresh batch. Each run also fetches, every step,
the merged scalar summaries, and G's the batch's PSNR and sharpness difference, though it
prints and writes them only every few steps. Its losses are sums: Lp and GDL summed over the
batch and pixels, BCE over the batch, each averaged over the scales. G by Adam at 4e-5, D by
plain SGD at 0.02. Its G is not residual (each scale ends in a tanh of its own), and its D's
sigmoid is clipped to [0.1, 0.9].

Its network for a preset: the preset's layer sizes, D's input (`d_sees_history`), max-pools and
extra D examples (the extra real and mismatched frames join D's one batch), so that both steps
do the same convolutions. Where this step differs from the code its users ran, it is faster
than that code: the adversarial gradient reaches G in G's own `Session.run` (on its main branch
G's update first ran G and D in two more runs and fed D's output back, so no adversarial
gradient reached G: defect 2 of REFERENCE.md), and D's update computes G's frames and the
targets' pyramid in the graph (its code ran G in a separate run and resized each target with
skimage in numpy).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from avgkit.config import Config
from avgkit.data.pipeline import split_clip, to_unit
from avgkit.models import concat_batches, pyramid

V1 = tf.compat.v1
G_LEARNING_RATE = 4e-5  # the TF1 code's Adam rate for G
D_LEARNING_RATE = 0.02  # its SGD rate for D


class TF1Step:
    """The graph, its session and `train_step(g_clips, d_clips, d_extra=None)`, the way TF1 ran
    it: uint8 clips (batch, crop, crop, 3 * (hist_len + 1)) scaled to [-1, 1] in numpy and fed
    (`pipeline.to_unit` on numpy arrays), as its saved clips were."""

    def __init__(self, config: Config, adversarial: bool = True, seed: int = 0):
        self.config, self.adversarial = config, adversarial
        self.graph = tf.Graph()
        with self.graph.as_default():
            V1.set_random_seed(seed)
            shape = (config.batch_size, config.crop_size, config.crop_size)
            channels = 3 * (config.hist_len + 1)
            self.g_clips = V1.placeholder(tf.float32, (*shape, channels), "g_clips")
            self.g_loss, self.g_terms, self.predictions, target = self._g_loss(self.g_clips)
            g_variables = V1.trainable_variables("generator")
            adam = V1.train.AdamOptimizer(G_LEARNING_RATE)
            self.g_train = adam.minimize(self.g_loss, var_list=g_variables)
            self.g_metrics = {
                "psnr": _psnr(self.predictions[-1], target),
                "sharp_diff": _sharp_diff(self.predictions[-1], target),
            }
            scalars = {"g_loss": self.g_loss, **self.g_metrics}
            self.g_summary = V1.summary.merge([V1.summary.scalar(n, v) for n, v in scalars.items()])
            if adversarial:
                self.d_clips = V1.placeholder(tf.float32, (*shape, channels), "d_clips")
                extra = (2, *shape, channels)
                self.d_extra = V1.placeholder(tf.float32, extra, "d_extra")
                self.d_loss = self._d_loss(self.d_clips, self.d_extra)
                sgd = V1.train.GradientDescentOptimizer(D_LEARNING_RATE)
                d_variables = V1.trainable_variables("discriminator")
                self.d_train = sgd.minimize(self.d_loss, var_list=d_variables)
                self.d_summary = V1.summary.scalar("d_loss", self.d_loss)
            self.session = V1.Session(graph=self.graph)
            self.session.run(V1.global_variables_initializer())
            self.parameters = {
                name: sum(int(np.prod(v.shape)) for v in V1.trainable_variables(name))
                for name in ("generator", "discriminator")
            }

    def train_step(self, g_clips, d_clips, d_extra=None) -> dict:
        """D's update, then G's; returns G's loss (a sum), PSNR and sharpness difference (dB,
        TF1's peak of 1) and, when adversarial, D's loss."""
        values = {}
        if self.adversarial:
            feed = {self.d_clips: to_unit(d_clips)}
            if self.config.d_extra_examples:
                feed[self.d_extra] = to_unit(d_extra)
            _, values["d_loss"], _ = self.session.run(
                [self.d_train, self.d_loss, self.d_summary], feed
            )
        _, values["g_loss"], metrics, _ = self.session.run(
            [self.g_train, self.g_loss, self.g_metrics, self.g_summary],
            {self.g_clips: to_unit(g_clips)},
        )
        return {**values, **metrics}

    def evaluate(self, g_clips) -> dict:
        """Without an update: G's loss, its terms (per scale) and its predictions (coarse to
        fine) on `g_clips`."""
        return self.session.run(
            {"g_loss": self.g_loss, **self.g_terms, "predictions": self.predictions},
            {self.g_clips: to_unit(g_clips)},
        )

    def _g_loss(self, clips):
        history, target = split_clip(clips, self.config.hist_len)
        predictions = self._generator(history)
        targets = pyramid(target, self.config)
        terms = {
            "lp": [
                tf.reduce_sum(tf.abs(p - t) ** self.config.l_num)
                for p, t in zip(predictions, targets, strict=True)
            ],
            "gdl": [
                _gdl(p, t, self.config.alpha_num) for p, t in zip(predictions, targets, strict=True)
            ],
        }
        loss = self.config.lam_lp * _mean(terms["lp"]) + self.config.lam_gdl * _mean(terms["gdl"])
        if self.adversarial:
            terms["adv"] = [_bce(d, 1.0) for d in self._discriminator(history, predictions)]
            loss += self.config.lam_adv * _mean(terms["adv"])
        return loss, terms, predictions, target

    def _d_loss(self, clips, extra):
        """D's BCE on one batch: per scale, generated frames labelled 0 then real ones labelled 1
        (and with extra examples a second real batch, 1, and its history before a third's frame,
        0), summed over the batch, averaged over the scales."""
        c = self.config
        history, target = split_clip(clips, c.hist_len)
        fakes = [tf.stop_gradient(p) for p in self._generator(history)]
        scored = [(history, fakes, 0.0), (history, pyramid(target, c), 1.0)]
        if c.d_extra_examples:  # a second real batch; its history before a third's frame
            history2, target2 = split_clip(extra[0], c.hist_len)
            _, target3 = split_clip(extra[1], c.hist_len)
            scored += [(history2, pyramid(target2, c), 1.0), (history2, pyramid(target3, c), 0.0)]
        histories, frames = concat_batches([h for h, _, _ in scored], [f for _, f, _ in scored])
        labels = tf.concat([tf.fill((c.batch_size, 1), label) for _, _, label in scored], axis=0)
        return _mean([_bce(d, labels) for d in self._discriminator(histories, frames)])

    def _generator(self, history):
        """Per scale: SAME convolutions, ReLU between, tanh at the end, on the history and the
        upsampled coarser prediction (not residual, as in the TF1 code)."""
        c = self.config
        predictions = []
        with V1.variable_scope("generator", reuse=V1.AUTO_REUSE):
            for k, x in enumerate(pyramid(history, c)):
                if predictions:
                    coarser = tf.image.resize(predictions[-1], x.shape[1:3], method="nearest")
                    x = tf.concat([x, coarser], axis=-1)
                maps = (*c.g_feature_maps[k], 3)
                for i, (filters, kernel) in enumerate(zip(maps, c.g_kernel_sizes[k], strict=True)):
                    x = _conv(f"g{k}_{i}", x, filters, kernel, "SAME")
                    x = tf.tanh(x) if i == len(maps) - 1 else tf.nn.relu(x)
                predictions.append(x)
        return predictions

    def _discriminator(self, history, frames):
        """Per scale: D's probability, clipped to [0.1, 0.9], (batch, 1)."""
        c = self.config
        outputs = []
        with V1.variable_scope("discriminator", reuse=V1.AUTO_REUSE):
            for k, (h, frame) in enumerate(zip(pyramid(history, c), frames, strict=True)):
                x = tf.concat([h, frame], axis=-1) if c.d_sees_history else frame
                for i, (maps, kernel) in enumerate(
                    zip(c.d_feature_maps[k], c.d_kernel_sizes[k], strict=True)
                ):
                    x = tf.nn.relu(_conv(f"d{k}_conv{i}", x, maps, kernel, "VALID"))
                if c.d_max_pool[k]:
                    x = tf.nn.max_pool2d(x, 2, 2, "VALID")
                x = tf.reshape(x, (x.shape[0], -1))
                widths = (*c.d_fc_sizes[k], 1)
                for i, width in enumerate(widths):
                    x = _dense(f"d{k}_fc{i}", x, width)
                    x = x if i == len(widths) - 1 else tf.nn.relu(x)
                outputs.append(tf.clip_by_value(tf.sigmoid(x), 0.1, 0.9))
        return outputs


def _conv(name, x, filters, kernel, padding):
    weights = V1.get_variable(f"{name}_w", (kernel, kernel, x.shape[-1], filters))
    bias = V1.get_variable(f"{name}_b", (filters,), initializer=V1.zeros_initializer())
    return tf.nn.conv2d(x, weights, 1, padding) + bias


def _dense(name, x, width):
    weights = V1.get_variable(f"{name}_w", (x.shape[-1], width))
    bias = V1.get_variable(f"{name}_b", (width,), initializer=V1.zeros_initializer())
    return tf.matmul(x, weights) + bias


def _gdl(prediction, target, alpha):
    """|grad Y| - |grad Y_hat| differences, to the power alpha, summed (the TF1 GDL)."""
    total = 0.0
    for axis in (1, 2):
        true = tf.abs(tf.experimental.numpy.diff(target, axis=axis))
        predicted = tf.abs(tf.experimental.numpy.diff(prediction, axis=axis))
        total += tf.reduce_sum(tf.abs(true - predicted) ** alpha)
    return total


def _psnr(prediction, target):
    """TF1's PSNR of (batch, H, W, 3) frames in [-1, 1]: 10 log10(1 / MSE) a frame (a peak of 1,
    defect 6 of REFERENCE.md), averaged over the batch."""
    error = tf.reduce_mean(tf.square(target - prediction), axis=[1, 2, 3])
    return tf.reduce_mean(-10.0 * tf.math.log(error) / np.log(10.0))


def _sharp_diff(prediction, target):
    """TF1's sharpness difference: 10 log10(1 / mean |(|dx Y| + |dy Y|) - (|dx Yh| + |dy Yh|)|)
    a frame, averaged over the batch, with dx and dy SAME convolutions by [-1, 1] (1, 2, 3, 3) and
    [1, -1]^T (2, 1, 3, 3) filters that keep each colour channel apart."""
    eye = np.identity(3, np.float32)
    filters = (np.stack([-eye, eye])[None], np.stack([eye, -eye])[:, None])

    def gradient_sum(frames):
        return tf.add_n([tf.abs(tf.nn.conv2d(frames, f, 1, "SAME")) for f in filters])

    error = tf.reduce_mean(tf.abs(gradient_sum(target) - gradient_sum(prediction)), axis=[1, 2, 3])
    return tf.reduce_mean(-10.0 * tf.math.log(error) / np.log(10.0))


def _bce(probabilities, labels):
    """Binary cross-entropy of (batch, 1) probabilities against `labels` (a number or (batch, 1)),
    summed over the batch."""
    p = probabilities
    return -tf.reduce_sum(labels * tf.math.log(p) + (1 - labels) * tf.math.log(1 - p))


def _mean(values):
    return tf.add_n(values) / len(values)
