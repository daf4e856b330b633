"""The trainer: both models, both optimizers and the compiled training step, under a strategy.

A step, as the paper (section 3): one D update on one batch, then one G update on a fresh batch
with L_G = lam_adv L_adv + lam_lp L_p + lam_gdl L_gdl. Non-adversarial: G alone with Lp + GDL;
D is built and checkpointed but never updated, so the run can later go on adversarially.

On clips of hist_len + K frames (`Config.curriculum`) G is trained on its own rollout: it
predicts K frames in a row, each from the frames before it (`models.unroll`), L_G is averaged
over the K, and D judges each predicted frame after the history G saw against the real frame
after its real history (`rollout_loss`, `_d_update`). K = 1 is the paper's step. With
`Config.actions`, G and D also get the action taken towards each frame they predict or judge.

D's loss: BCE(D(X, Y), 1) + BCE(D(X, G(X)), 0) per scale, summed over scales. With
`config.d_extra_examples` (the official code's advExt = 'full') it adds, on two more batches,
BCE(D(X2, Y2), 1) + BCE(D(X2, Y3), 0): a real frame after another clip's history is fake, so D
must check that the frame follows its history. The official script reports
err / 2 + (err1 + err2) / 4 but accumulates the four terms' gradients with weight 1, so its update
is that of this plain sum. (Its backward pass for each term is also handed G's prediction as the
frame, whatever the term's frame was; here every term's gradient is taken at its own inputs.)

Actions (`config.actions`): every batch of clips comes with the action of each of its frames,
int (batch, frames), `actions[i]` for the clips batch i of a step. G predicting frame t of a
clip gets action t (the one taken towards it); D judges frame t, real or generated, with action
t. In D's extra examples the mismatched frame is judged with its history's clip's action: D
must tell that it does not follow that history under that action.

With `config.adv_gradient_cap` C > 0, G's update weighs L_adv,k by w_k <= 1 chosen so that the
adversarial gradient on G's prediction at scale k is at most C times the Lp + GDL gradient there
(`adversarial_weights`): a D that wins cannot drown out the regression losses.

`diagnostics` measures what D does on a stats step (avgkit.train.loop logs it): the mean sigmoid
of D on real and generated frames per scale, and the adversarial term's share of the gradient
that reaches G's output at each scale.

Optimizers (`Config.g_optimizer` ...): Adam at 1e-4 for G and D by default. The paper trains
with SGD, rho_G falling from 0.04 to 0.005 and rho_D = 0.02; the TF1 code with Adam 4e-5 for G
and SGD 0.02 for D. SGD rates belong to a loss scale, and avgkit's losses are means, not the
paper's sums (avgkit.losses), so the paper's rates do not carry over; Adam adapts to the scale of
the gradients. On Ms. Pac-Man clips with the small preset, 300 non-adversarial steps brought G's
loss from 2.6 to 1.34 at 1e-4 against 1.82 at TF1's 4e-5 (0.93 at 3e-4, not tried over long
runs), and 400 adversarial steps at 1e-4 ran stably. `sgd` and a linear decay of G's rate
(`g_decay_steps`, `g_decay_to`) are there for the paper's recipe.

Distribution: each replica takes its slice of the global batch and scales its loss by
1 / replicas; Keras sums the gradients over replicas, so the update is that of the global batch
mean, and the values a step reports (summed over replicas) are global batch means.
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np
import tensorflow as tf

from avgkit import losses, models
from avgkit.config import Config
from avgkit.data.pipeline import split_clip, to_unit
from avgkit.errors import ConfigError
from avgkit.train import distribute
from avgkit.train.batch_metrics import batch_psnr, batch_sharp_diff


class Trainer:
    """G, D, their optimizers, the step counter and a `tf.train.Checkpoint` of all of them.

    precision: "float32" or "mixed" (Keras' mixed_bfloat16 on a CPU, mixed_float16 with loss
    scaling on a GPU: float32 variables, losses and outputs). jit_compile: XLA over each
    replica's whole step, D's update and G's (G's upsampling of training crops is an exact 2x
    repeat, which XLA compiles: avgkit.models.generator).
    """

    def __init__(
        self,
        config: Config,
        adversarial: bool = True,
        seed: int = 0,
        strategy: tf.distribute.Strategy | None = None,
        precision: str = "float32",
        jit_compile: bool = False,
    ):
        self.config, self.adversarial = config, adversarial
        self.strategy = strategy or distribute.choose_strategy()
        replicas = self.strategy.num_replicas_in_sync
        if config.batch_size % replicas:
            raise ConfigError(
                f"batch_size {config.batch_size} does not split evenly over {replicas} replicas"
            )
        if jit_compile and replicas > 1:
            raise ConfigError(
                f"--jit_compile: XLA compiles the step on one device; this run has {replicas} "
                f"({distribute.describe(self.strategy)}), whose copies of the variables one "
                "compiled step cannot reach"
            )
        self.policy = _policy_name(precision, distribute.uses_gpu(self.strategy))
        with _dtype_policy(self.policy), self.strategy.scope():
            keras.utils.set_random_seed(seed)
            self.generator = models.build_generator(config)
            self.discriminator = models.build_discriminator(config)
            loss_scale = self.policy == "mixed_float16"
            self.g_optimizer = _optimizer(config.g_optimizer, _g_rate(config), loss_scale)
            self.d_optimizer = _optimizer(config.d_optimizer, config.d_learning_rate, loss_scale)
            # Built now, so that a restore fills Adam's moments instead of deferring them.
            self.g_optimizer.build(self.generator.trainable_variables)
            self.d_optimizer.build(self.discriminator.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.checkpoint = tf.train.Checkpoint(
            step=self.step,
            generator=self.generator,
            discriminator=self.discriminator,
            g_optimizer=self.g_optimizer,
            d_optimizer=self.d_optimizer,
        )
        if jit_compile:
            self._replica_step = tf.function(self._replica_step, jit_compile=True, autograph=False)
        self._step = tf.function(self._distributed_step, autograph=False)
        self._predict = tf.function(self.generator, reduce_retracing=True)
        self._diagnostics = tf.function(self._diagnose, autograph=False)
        self._d_real = tf.function(self._real_sigmoids, autograph=False)

    def train_step(
        self,
        g_clips: np.ndarray,
        d_clips: np.ndarray,
        d_extra: np.ndarray | None = None,
        actions: tuple[np.ndarray, ...] | None = None,
    ) -> dict[str, np.ndarray]:
        """One step on uint8 clips (batch_size, crop, crop, 3 * (hist_len + K)): G rolls out K
        frames from each history (K = 1: the paper's step; `rollout_loss`, `_d_update`); d_extra:
        D's two extra batches (2, batch_size, crop, crop, 3 * (hist_len + 1)), required with
        `config.d_extra_examples`; actions: required with `config.actions`, the action of every
        frame of each batch given, in the same order: int (batch_size, hist_len + K) for
        g_clips and d_clips, (2, batch_size, hist_len + 1) for d_extra
        (`ShardBatches.actions`).

        Returns global batch means: "g_loss" (scalar), "g_lp", "g_gdl", "g_adv" (per scale,
        unweighted), "psnr" and "sharp_diff" (dB, 255 peak, full-size prediction), and when
        adversarial "d_loss" (scalar) and "d_scales" (per scale).
        """
        if self.config.d_extra_examples != (d_extra is not None):
            raise ConfigError(
                f"d_extra_examples is {self.config.d_extra_examples}: expected "
                + ("D's two extra batches" if self.config.d_extra_examples else "no extra batches")
            )
        self._check_actions(actions, 2 + (d_extra is not None))
        extra = None if d_extra is None else self._distribute(d_extra, axis=1)
        if actions is not None:
            actions = tuple(self._distribute(a, axis) for a, axis in zip(actions, (0, 0, 1)))
        values = self._step(self._distribute(g_clips), self._distribute(d_clips), extra, actions)
        return {name: value.numpy() for name, value in values.items()}

    def diagnostics(
        self, g_clips: np.ndarray, d_clips: np.ndarray, actions: tuple | None = None
    ) -> dict[str, np.ndarray]:
        """What D does, per scale (num_scales,), on the clips of a step:
        "d_real", "d_fake": mean sigmoid(D) on d_clips' real and generated frames;
        "adv_share": |dA/dY_k| / (|dA/dY_k| + |dR/dY_k|) on g_clips, A = lam_adv L_adv and
        R = lam_lp L_p + lam_gdl L_gdl, the gradient norms at G's output Y_k of scale k (each
        term of scale k depends on Y_k directly; paths through finer scales are left out;
        uncapped, so that it shows how far D wins: with `config.adv_gradient_cap` C, G's
        update takes min(adv_share, C / (1 + C)) of it).
        actions: with `config.actions`, those of g_clips and d_clips (as `train_step`'s)."""
        self._check_actions(actions, 2)
        one_step = self.config.hist_len + 1  # of rollout clips, the first frames
        clips = [tf.constant(c[..., : 3 * one_step]) for c in (g_clips, d_clips)]
        actions = [tf.constant(a[:, :one_step]) for a in actions] if actions else []
        values = self._diagnostics(*clips, *actions)
        return {name: value.numpy() for name, value in values.items()}

    def d_real(self, clips: np.ndarray, actions: np.ndarray | None = None) -> np.ndarray:
        """Mean sigmoid(D) per scale (num_scales,) on the real frames of uint8 clips; actions:
        with `config.actions`, int (batch, hist_len + 1), those of the clips' frames."""
        self._check_actions(None if actions is None else (actions,), 1)
        return self._d_real(tf.constant(clips), _constant(actions)).numpy()

    def d_scores(self, clips: np.ndarray, actions: np.ndarray | None = None) -> dict:
        """Mean sigmoid(D) per scale (num_scales,) on uint8 clips: "real" (each clip's own target),
        "generated" (G's prediction from the clip's history) and "mismatched" (the next clip's
        real target after this clip's history, what D's extra examples label fake). A D that
        tells the mismatched frames but scores real and generated alike cannot guide G.
        actions: with `config.actions`, int (batch, hist_len + 1), those of the clips' frames;
        each frame is judged with the action of the clip whose history it follows."""
        self._check_actions(None if actions is None else (actions,), 1)
        history, target = split_clip(to_unit(tf.constant(clips)), self.config.hist_len)
        action = _next_action(_constant(actions), self.config.hist_len)
        candidates = {
            "real": models.pyramid(target, self.config),
            "generated": self.generator(history, action),
            "mismatched": models.pyramid(tf.roll(target, -1, axis=0), self.config),
        }
        scores = {}
        for name, frames in candidates.items():
            logits = self.discriminator(history, frames, action)
            scores[name] = np.array([float(tf.reduce_mean(tf.sigmoid(x))) for x in logits])
        return scores

    def predict(self, history, actions=None) -> list[tf.Tensor]:
        """G's predictions (coarse to fine) for history (batch, H, W, 3 * hist_len) in [-1, 1];
        actions: with `config.actions`, int (batch,), the action taken towards the frame."""
        history = tf.convert_to_tensor(history, tf.float32)
        if actions is None:
            return self._predict(history)
        return self._predict(history, tf.convert_to_tensor(actions, tf.int32))

    def _check_actions(self, actions, batches: int) -> None:
        """ConfigError unless actions come, for `batches` batches, exactly with config.actions."""
        names = self.config.actions
        if bool(names) != (actions is not None):
            expected = f"the action of every frame ({len(names)} actions)" if names else "none"
            raise ConfigError(
                f"actions: this model is {'' if names else 'not '}action-conditioned; "
                f"expected {expected}"
            )
        if actions is not None and len(actions) != batches:
            raise ConfigError(f"actions for {len(actions)} batches of clips; expected {batches}")

    def _distribute(self, clips: np.ndarray, axis: int = 0):
        """Replica r gets rows [r * n, (r + 1) * n) of the global batch on `axis`,
        n = batch / replicas."""
        size = clips.shape[axis] // self.strategy.num_replicas_in_sync

        def slice_for(context):
            first = context.replica_id_in_sync_group * size
            return tf.constant(np.take(clips, range(first, first + size), axis=axis))

        return self.strategy.experimental_distribute_values_from_function(slice_for)

    def _distributed_step(self, g_clips, d_clips, d_extra, actions=None):
        values = self.strategy.run(self._replica_step, args=(g_clips, d_clips, d_extra, actions))
        self.step.assign_add(1)  # in the same graph: a checkpoint never splits a step
        return {
            name: self.strategy.reduce("SUM", value, axis=None) for name, value in values.items()
        }

    def _replica_step(self, g_clips, d_clips, d_extra, actions=None):
        scale = 1.0 / self.strategy.num_replicas_in_sync
        g_actions, d_actions, *extra_actions = actions or (None, None)
        values = {}
        if self.adversarial:
            values = self._d_update(d_clips, d_extra, scale, d_actions, *extra_actions)
        values.update(self._g_update(g_clips, scale, g_actions))
        return values

    def _d_update(self, clips, extra, scale, actions=None, extra_actions=None):
        """D's update on real frames and G's: with K = clips' frames - hist_len, G rolls out K
        frames from each history and D judges each after the history G saw (partly its own
        predictions), against the real frame after its real history, both with the real action
        towards that frame; L_D averaged over the K."""
        hist_len = self.config.hist_len
        frames = to_unit(clips)
        history, future = split_clip(frames, hist_len)
        steps = future.shape[-1] // 3
        future_actions = None if actions is None else actions[:, hist_len:]
        # no gradient to G: its frames are constants here
        rollout = models.unroll(self.generator, history, steps, future_actions)
        pairs, weights = [], [1.0 / steps] * steps
        for k, (seen, fakes) in enumerate(rollout):
            window = frames[..., 3 * k : 3 * (k + hist_len + 1)]
            real_history, target = split_clip(window, hist_len)
            action = _next_action(actions, hist_len, k)
            pairs.append((real_history, models.pyramid(target, self.config), seen, fakes, action))
        if extra is not None:  # a second real batch, and its history before a third's target
            history2, target2 = split_clip(to_unit(extra[0]), hist_len)
            _, target3 = split_clip(to_unit(extra[1]), hist_len)
            reals, mismatched = (
                models.pyramid(target2, self.config),
                models.pyramid(target3, self.config),
            )
            action = None if extra_actions is None else _next_action(extra_actions[0], hist_len)
            pairs.append((history2, reals, history2, mismatched, action))
            weights.append(1.0)
        loss, per_scale, gradients = self._d_gradients(pairs, weights, scale)
        self.d_optimizer.apply(gradients, self.discriminator.trainable_variables)
        return {"d_loss": loss * scale, "d_scales": per_scale * scale}

    def _d_gradients(self, pairs, weights, scale):
        """L_D over (real history, real frames, fake history, fake frames, action or None)
        pairs, each weighted, summed, and its gradient.

        D scores all the frames in one call, stacked on the batch axis (real, fake, real, fake,
        ...): the logits of one call per batch, up to rounding, but its convolutions run on one
        batch of 2 * len(pairs) * B frames, which uses the cores better than that many of B."""
        scored = [
            (h, f)
            for real_h, reals, fake_h, fakes, _ in pairs
            for h, f in ((real_h, reals), (fake_h, fakes))
        ]
        histories, stacked = models.concat_batches([h for h, _ in scored], [f for _, f in scored])
        actions = [action for *_, action in pairs for _ in range(2)]  # real's, then fake's
        actions = None if actions[0] is None else tf.concat(actions, axis=0)
        with tf.GradientTape() as tape:
            logits = self.discriminator(histories, stacked, actions)
            logits = [tf.split(x, len(scored)) for x in logits]
            per_scale = 0.0
            for i, weight in enumerate(weights):
                real_logits = [x[2 * i] for x in logits]
                fake_logits = [x[2 * i + 1] for x in logits]
                per_scale += (
                    weight * losses.combined_discriminator_loss(real_logits, fake_logits)[1]
                )
            loss = tf.reduce_sum(per_scale)
            scaled = self.d_optimizer.scale_loss(loss * scale)
        return loss, per_scale, tape.gradient(scaled, self.discriminator.trainable_variables)

    def _diagnose(self, g_clips, d_clips, g_actions=None, d_actions=None):
        hist_len = self.config.hist_len
        history, target = split_clip(to_unit(d_clips), hist_len)
        action = _next_action(d_actions, hist_len)
        fakes = self.generator(history, action)
        logits = self.discriminator(history, fakes, action)
        d_fake = [tf.reduce_mean(tf.sigmoid(logit)) for logit in logits]
        history, target = split_clip(to_unit(g_clips), hist_len)
        action = _next_action(g_actions, hist_len)
        predictions = [tf.stop_gradient(p) for p in self.generator(history, action)]
        targets = models.pyramid(target, self.config)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(predictions)
            logits = self.discriminator(history, predictions, action)
            _, terms = losses.combined_generator_loss(predictions, targets, logits, self.config)
            adversarial = self.config.lam_adv * tf.reduce_sum(terms["adv"])
            rest = self.config.lam_lp * tf.reduce_sum(terms["lp"])
            rest += self.config.lam_gdl * tf.reduce_sum(terms["gdl"])
        adv_norms = tf.stack([tf.norm(g) for g in tape.gradient(adversarial, predictions)])
        rest_norms = tf.stack([tf.norm(g) for g in tape.gradient(rest, predictions)])
        del tape
        return {
            "d_real": self._real_sigmoids(d_clips, d_actions),
            "d_fake": tf.stack(d_fake),
            "adv_share": adv_norms / tf.maximum(adv_norms + rest_norms, 1e-30),
        }

    def _real_sigmoids(self, clips, actions=None):
        history, target = split_clip(to_unit(clips), self.config.hist_len)
        action = _next_action(actions, self.config.hist_len)
        logits = self.discriminator(history, models.pyramid(target, self.config), action)
        return tf.stack([tf.reduce_mean(tf.sigmoid(logit)) for logit in logits])

    def _g_update(self, clips, scale, actions=None):
        history, future = split_clip(to_unit(clips), self.config.hist_len)
        targets = tf.split(future, future.shape[-1] // 3, axis=-1)
        future_actions = None if actions is None else actions[:, self.config.hist_len :]
        variables = self.generator.trainable_variables
        with tf.GradientTape() as tape:
            loss, terms, first = self.rollout_loss(history, targets, future_actions)
            scaled = self.g_optimizer.scale_loss(loss * scale)
        self.g_optimizer.apply(tape.gradient(scaled, variables), variables)
        values = {f"g_{name}": value for name, value in terms.items()}
        values.update(
            g_loss=loss,
            psnr=batch_psnr(first, targets[0]),
            sharp_diff=batch_sharp_diff(first, targets[0]),
        )
        return {name: value * scale for name, value in values.items()}

    def rollout_loss(self, history, targets, actions=None):
        """G's loss on its own rollout: from history (batch, H, W, 3 * hist_len), G predicts
        K = len(targets) frames in a row (`models.unroll`), and each prediction k is scored
        against targets[k] (batch, H, W, 3) by L_G, D judging it after the history G saw.
        actions: with `config.actions`, int (batch, K), the action taken towards each target,
        given to G and D. Returns L_G and its unweighted terms (per scale) averaged over the K
        frames, and the first full-size prediction. K = 1 is the paper's one-step loss."""
        rollout = models.unroll(self.generator, history, len(targets), actions)
        total, summed = 0.0, {}
        for k, ((seen, predictions), target) in enumerate(zip(rollout, targets, strict=True)):
            fake_logits = None
            # records only what follows the predictions: D and the losses (for the cap)
            with tf.GradientTape(persistent=True, watch_accessed_variables=False) as tape:
                tape.watch(predictions)
                if self.adversarial:
                    action = _next_action(actions, 0, k)
                    fake_logits = self.discriminator(seen, predictions, action)
                loss, terms = losses.combined_generator_loss(
                    predictions, models.pyramid(target, self.config), fake_logits, self.config
                )
            if self.adversarial and self.config.adv_gradient_cap > 0:
                weights = adversarial_weights(tape, predictions, terms, self.config)
                loss -= self.config.lam_adv * tf.reduce_sum((1.0 - weights) * terms["adv"])
            del tape
            total += loss
            summed = {name: summed.get(name, 0.0) + value for name, value in terms.items()}
        steps = len(targets)
        mean_terms = {name: value / steps for name, value in summed.items()}
        return total / steps, mean_terms, rollout[0][1][-1]


def adversarial_weights(tape, predictions, terms, config: Config):
    """Per scale k, float32 (num_scales,), the factor w_k in [0, 1] on lam_adv L_adv,k that holds
    the adversarial gradient on G's prediction Y_k to at most `config.adv_gradient_cap` times the
    Lp + GDL gradient there: w_k = min(1, C |dR_k/dY_k| / |dA_k/dY_k|), A = lam_adv L_adv,
    R = lam_lp L_p + lam_gdl L_gdl, norms over the batch. tape: a persistent tape that watched
    `predictions` (per-scale list) while D scored them and `terms` (per-scale unweighted losses
    of `losses.combined_generator_loss`) were taken. Constant: no gradient flows through w.
    Bounds only the direct gradient on Y_k: in a rollout (K > 1) D's gradient also reaches
    earlier predictions through the history it judges, weighted by w_k but not counted in it;
    under tf.distribute each replica weighs its own slice of the batch."""
    # each scale's terms depend on its own prediction only, so one gradient gives all scales';
    # the weights enter as the terms' output gradients (the tape recorded the terms, not sums)
    parts = (
        ([terms["adv"]], [config.lam_adv]),
        ([terms["lp"], terms["gdl"]], [config.lam_lp, config.lam_gdl]),
    )
    norms = []
    for targets, weights in parts:
        seeds = [tf.fill(tf.shape(t), tf.cast(w, t.dtype)) for t, w in zip(targets, weights)]
        gradients = tape.gradient(targets, predictions, output_gradients=seeds)
        norms.append(tf.stack([tf.norm(tf.cast(g, tf.float32)) for g in gradients]))
    ratio = config.adv_gradient_cap * norms[1] / tf.maximum(norms[0], 1e-30)
    ratio = tf.where(tf.math.is_finite(ratio), ratio, 1.0)  # an overflow caps nothing
    return tf.stop_gradient(tf.minimum(1.0, ratio))


def _next_action(actions, hist_len: int, k: int = 0):
    """The action taken towards frame hist_len + k of each clip: actions (batch, frames) ->
    (batch,); None without actions."""
    return None if actions is None else actions[:, hist_len + k]


def _constant(array):
    return None if array is None else tf.constant(array)


def _g_rate(config: Config):
    if not config.g_decay_steps:
        return config.g_learning_rate
    return keras.optimizers.schedules.PolynomialDecay(
        config.g_learning_rate,
        config.g_decay_steps,
        config.g_learning_rate * config.g_decay_to,
        power=1.0,
    )


def _optimizer(kind: str, rate, loss_scale: bool) -> keras.optimizers.Optimizer:
    optimizer = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}[kind](rate)
    return keras.optimizers.LossScaleOptimizer(optimizer) if loss_scale else optimizer


def _policy_name(precision: str, gpu: bool) -> str:
    if precision == "float32":
        return "float32"
    if precision == "mixed":
        return "mixed_float16" if gpu else "mixed_bfloat16"
    raise ConfigError(f"precision {precision!r}: expected 'float32' or 'mixed'")


@contextlib.contextmanager
def _dtype_policy(name: str):
    """Keras' global dtype policy set to `name` while models are built, then put back."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
