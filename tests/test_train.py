"""The trainer and its loop: deterministic batches, exact resume, NaN stop, precision, rollouts."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import platform
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from avgkit import config, evaluate, home, losses, machine, models
from avgkit import train as train_lib
from avgkit.data import clips as clips_lib
from avgkit.data import pipeline
from avgkit.errors import ConfigError
from avgkit.train import batch_metrics, distribute, loop, outputs
from avgkit.train import trainer as trainer_lib
from conftest import ACTION_SET, frame_indices, write_actions, write_indexed_video, write_video

TINY = config.preset("tiny")
QUIET = train_lib.Frequencies(stats=1000, summary=1000, images=1000, test=1000)


@pytest.fixture(scope="module")
def clips_dir(tmp_path_factory):
    """320 clips of two synthetic videos in shards of 64 (6 shards)."""
    root = tmp_path_factory.mktemp("train_data")
    write_video(root / "Train" / "a", 30, seed=1)
    write_video(root / "Train" / "b", 30, seed=2)
    clips_lib.process(root / "Train", root / "clips", 320, shard_size=64, progress=False)
    return root / "clips"


def all_clips(clips_dir):
    manifest = clips_lib.read_manifest(clips_dir)
    return np.concatenate([clips_lib.load_shard(clips_dir / s["file"]) for s in manifest["shards"]])


def test_batches_are_a_pure_function_of_seed_and_step(clips_dir):
    make = functools.partial(train_lib.ShardBatches, clips_dir, TINY, block_steps=4)
    first = make(seed=3)
    run = [first.batch(step) for step in range(12)]
    resumed = make(seed=3)  # a resumed run starts in the middle of block 2
    for step in (9, 10, 11):
        np.testing.assert_array_equal(resumed.batch(step)[0], run[step][0])
        np.testing.assert_array_equal(resumed.batch(step)[1], run[step][1])
    other = make(seed=4).batch(0)[0]
    assert not np.array_equal(other, run[0][0])
    stored = {clip.tobytes() for clip in all_clips(clips_dir)}
    shape = (TINY.batch_size, 32, 32, 15)
    for g_batch, d_batch in run:
        assert g_batch.shape == d_batch.shape == shape and g_batch.dtype == np.uint8
        assert all(clip.tobytes() in stored for clip in np.concatenate([g_batch, d_batch]))
    # a block covers every clip of its shards once before it repeats one
    block = first.block_clips(0)
    assert len({clip.tobytes() for clip in block}) == len(block)
    for batches in (first, resumed):
        batches.close()


def test_resume_after_ctrl_c_repeats_the_uninterrupted_losses(clips_dir, tmp_path, monkeypatch):
    # blocks of 8 steps from 2 shards: the resume at step 10 starts inside block 1
    monkeypatch.setattr(
        loop,
        "ShardBatches",
        functools.partial(loop.ShardBatches, block_steps=8, shards_per_block=2),
    )
    every = dataclasses.replace(QUIET, save=15)

    def run(name):
        return train_lib.train(
            TINY, clips_dir, tmp_path / name, 30, frequencies=every, progress=False
        )

    straight = run("a")
    batch = loop.ShardBatches.func.batch

    def interrupt_at_step_10(self, step):
        if step == 10:
            raise KeyboardInterrupt
        return batch(self, step)

    with monkeypatch.context() as patch:
        patch.setattr(loop.ShardBatches.func, "batch", interrupt_at_step_10)
        with pytest.raises(KeyboardInterrupt):
            run("b")
    assert tf.train.latest_checkpoint(str(tmp_path / "b" / "checkpoints")).endswith("ckpt-10")
    resumed = run("b")  # the same name: resumes from the checkpoint Ctrl-C wrote
    assert resumed.steps == list(range(11, 31))
    for name in ("g_loss", "d_loss", "psnr"):
        np.testing.assert_allclose(resumed.values[name], straight.values[name][10:], atol=1e-5)
    state = tf.train.get_checkpoint_state(str(tmp_path / "b" / "checkpoints"))
    steps = [int(path.rsplit("-", 1)[1]) for path in state.all_model_checkpoint_paths]
    assert steps == [10, 15, 30]
    assert run("b").steps == []  # --steps is a total: a finished run stays finished


def test_a_resumed_run_drops_the_log_rows_after_its_checkpoint(tmp_path):
    log = tmp_path / "train_log.csv"
    for step in (10, 20, 30):
        outputs.append_log(log, {"step": step, "g_loss": step / 10, "psnr": 20.0})
    outputs.truncate_log(log, 20)
    assert [(row["step"], row["g_loss"]) for row in outputs.read_log(log)] == [(10, 1.0), (20, 2.0)]
    assert np.isnan(outputs.read_log(log)[0]["d_loss"])  # an empty field reads as NaN
    assert log.read_text().splitlines()[1].split(",")[2] == ""  # and is written back empty
    outputs.truncate_log(log, 5)
    assert not log.exists()


def test_nan_stops_with_the_step_and_keeps_the_last_good_checkpoint(clips_dir, tmp_path):
    exploding = dataclasses.replace(TINY, g_optimizer="sgd", g_learning_rate=1e30)
    every = dataclasses.replace(QUIET, save=1)
    with pytest.raises(train_lib.TrainingDiverged) as error:
        train_lib.train(
            exploding, clips_dir, tmp_path, 20, adversarial=False, frequencies=every, progress=False
        )
    step = int(str(error.value).split(":")[0].split()[1])
    assert f"step {step}: the generator loss is" in str(error.value)
    latest = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
    assert latest.endswith(f"ckpt-{step - 1}") and latest in str(error.value)
    trainer = train_lib.Trainer(exploding, adversarial=False)
    train_lib.restore(trainer, latest)
    assert all(np.isfinite(v.numpy()).all() for v in trainer.generator.weights)


def test_mixed_precision_non_adversarial_steps(clips_dir):
    trainer = train_lib.Trainer(TINY, adversarial=False, precision="mixed")
    assert keras.config.dtype_policy().name == "float32"  # the global policy is put back
    conv = trainer.generator.scale3.get_layer("g3_conv0")
    assert (conv.compute_dtype, conv.variable_dtype) == ("bfloat16", "float32")
    d_before = [v.numpy() for v in trainer.discriminator.weights]
    batches = train_lib.ShardBatches(clips_dir, TINY)
    for step in range(3):
        values = trainer.train_step(*batches.batch(step))
        assert np.isfinite(values["g_loss"]) and "d_loss" not in values and "g_adv" not in values
    batches.close()
    assert int(trainer.step.numpy()) == 3
    for before, after in zip(d_before, trainer.discriminator.weights):
        np.testing.assert_array_equal(before, after.numpy())  # D is never updated


def test_xla_step_matches_the_float32_reference(clips_dir):
    """XLA over the whole step (its 2x upsampling a repeat, whose gradient XLA compiles): the
    same losses as the tf.function step, step by step, from the same seed and batches."""
    batches = train_lib.ShardBatches(clips_dir, TINY)
    steps = [batches.batch(step) for step in range(3)]
    batches.close()
    reference, compiled = train_lib.Trainer(TINY), train_lib.Trainer(TINY, jit_compile=True)
    history, target = pipeline.split_clip(pipeline.to_unit(steps[0][1]), TINY.hist_len)
    real = compiled.discriminator(history, models.pyramid(target, TINY))
    fake = compiled.discriminator(history, compiled.generator(history))
    expected, _ = losses.combined_discriminator_loss(real, fake)  # eager, before the update
    for step, batch in enumerate(steps):
        want, got = reference.train_step(*batch), compiled.train_step(*batch)
        if step == 0:
            np.testing.assert_allclose(got["d_loss"], expected, rtol=1e-5)
        for name in ("d_loss", "g_loss", "g_lp", "g_gdl", "g_adv"):
            np.testing.assert_allclose(got[name], want[name], rtol=1e-4, err_msg=name)


def test_d_update_on_stacked_frames_is_that_of_one_call_per_batch(clips_dir):
    """D scores its real, fake and extra frames in one call stacked on the batch axis; its loss
    and SGD update equal those of D called on each batch alone, with BCE written out in numpy."""
    c = dataclasses.replace(TINY, d_extra_examples=True, d_optimizer="sgd", d_learning_rate=0.02)
    batches = train_lib.ShardBatches(clips_dir, c)
    g_clips, d_clips, extra = batches.batch(0)
    batches.close()
    trainer = train_lib.Trainer(c)
    history, target = pipeline.split_clip(pipeline.to_unit(d_clips), c.hist_len)
    history2, target2 = pipeline.split_clip(pipeline.to_unit(extra[0]), c.hist_len)
    _, target3 = pipeline.split_clip(pipeline.to_unit(extra[1]), c.hist_len)
    calls = [  # (history, frames, label): one D call each
        (history, models.pyramid(target, c), 1.0),
        (history, trainer.generator(history), 0.0),
        (history2, models.pyramid(target2, c), 1.0),
        (history2, models.pyramid(target3, c), 0.0),
    ]
    variables = trainer.discriminator.trainable_variables
    with tf.GradientTape() as tape:
        logits = [(trainer.discriminator(h, frames), label) for h, frames, label in calls]
        terms = [
            tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.fill(tf.shape(x), label), logits=x)
            for per_scale, label in logits
            for x in per_scale
        ]
        loss = tf.add_n([tf.reduce_mean(term) for term in terms])
    gradients = tape.gradient(loss, variables)
    expected = [v.numpy() - 0.02 * g.numpy() for v, g in zip(variables, gradients, strict=True)]

    def bce(x, label):  # the stable form of -label log s(x) - (1 - label) log(1 - s(x))
        return np.mean(np.maximum(x, 0) - x * label + np.log1p(np.exp(-np.abs(x))))

    by_numpy = sum(bce(x.numpy(), label) for per_scale, label in logits for x in per_scale)
    got = trainer.train_step(g_clips, d_clips, extra)
    np.testing.assert_allclose(got["d_loss"], by_numpy, rtol=1e-5)
    for variable, want in zip(variables, expected, strict=True):
        np.testing.assert_allclose(variable.numpy(), want, rtol=1e-4, atol=1e-6)


def test_checkpoint_of_another_preset_is_refused(clips_dir, tmp_path):
    small_run = tmp_path / "small_run"
    config.preset("small").save(_mkdir(small_run) / "config.json")
    tf.train.Checkpoint(step=tf.Variable(1)).save(str(_mkdir(small_run / "checkpoints") / "ckpt"))
    with pytest.raises(ConfigError, match=r"preset 'small'; this run is preset 'tiny'"):
        train_lib.train(TINY, clips_dir, tmp_path / "new", 5, load_path=small_run)
    with pytest.raises(ConfigError, match=r"holds a run of preset 'small', not 'tiny'"):
        train_lib.train(TINY, clips_dir, small_run, 5)


def test_rollout_feeds_each_prediction_back():
    def generator(history):  # the next frame: the newest one plus 0.1 (a list, as G returns)
        return [history[..., -3:] + 0.1]

    inputs = np.zeros((3, 5, 7, 12), np.float32)
    inputs[..., 9:] = np.arange(3)[:, None, None, None]  # a different newest frame per sequence
    frames = evaluate.rollout(generator, inputs, recursions=4, batch_size=2)
    assert frames.shape == (3, 4, 5, 7, 3)
    expected = np.arange(3)[:, None] + 0.1 * np.arange(1, 5)[None, :]
    np.testing.assert_allclose(frames[:, :, 0, 0, 0], expected, rtol=1e-6)


def test_rollout_of_the_generator_on_full_frames():
    generator = models.build_generator(TINY)
    inputs = np.random.default_rng(0).uniform(-1, 1, (2, 21, 16, 12)).astype(np.float32)
    frames = evaluate.rollout(generator, inputs, recursions=2)
    first = generator(inputs)[-1].numpy()
    second = generator(np.concatenate([inputs[..., 3:], first], axis=-1))[-1].numpy()
    np.testing.assert_allclose(frames[:, 0], first, atol=1e-6)
    np.testing.assert_allclose(frames[:, 1], second, atol=1e-6)


def test_batch_metrics_match_numpy():
    rng = np.random.default_rng(0)
    target, prediction = rng.uniform(-1, 1, (2, 2, 6, 5, 3)).astype(np.float32)
    t255, p255 = (target + 1) * 127.5, (prediction + 1) * 127.5
    mse = np.mean((t255 - p255) ** 2, axis=(1, 2, 3))
    psnr = np.mean(10 * np.log10(255**2 / mse))

    def grads(y):
        gi = np.abs(y[:, 1:, 1:] - y[:, :-1, 1:])
        gj = np.abs(y[:, 1:, 1:] - y[:, 1:, :-1])
        return gi + gj

    sharp = np.mean(
        10 * np.log10(255**2 / np.mean(np.abs(grads(t255) - grads(p255)), axis=(1, 2, 3)))
    )
    np.testing.assert_allclose(batch_metrics.batch_psnr(prediction, target), psnr, rtol=1e-5)
    np.testing.assert_allclose(batch_metrics.batch_sharp_diff(prediction, target), sharp, rtol=1e-5)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"g_optimizer": "rmsprop"}, r"g_optimizer must be one of \['adam', 'sgd'\]"),
        ({"d_learning_rate": 0}, "d_learning_rate must be a number > 0; got 0"),
        ({"g_decay_steps": -1}, "g_decay_steps must be an integer >= 0; got -1"),
    ],
)
def test_optimizer_settings_are_checked(change, message):
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(TINY, **change)


def test_g_learning_rate_falls_linearly_as_the_paper():
    paper_sgd = dataclasses.replace(
        TINY, g_optimizer="sgd", g_learning_rate=0.04, g_decay_steps=1000, g_decay_to=0.125
    )
    rate = trainer_lib._g_rate(paper_sgd)
    for step, expected in ((0, 0.04), (500, 0.0225), (1000, 0.005), (5000, 0.005)):
        np.testing.assert_allclose(float(rate(step)), expected, rtol=1e-6)
    assert trainer_lib._g_rate(TINY) == 1e-4  # constant by default


CLUSTER = {"worker": ["a:1", "b:1"]}


@pytest.mark.parametrize(
    ("tf_config", "chief"),
    [
        (None, True),
        ({"cluster": CLUSTER, "task": {"type": "worker", "index": 0}}, True),
        ({"cluster": CLUSTER, "task": {"type": "worker", "index": 1}}, False),
        ({"cluster": {**CLUSTER, "chief": ["c:1"]}, "task": {"type": "worker", "index": 0}}, False),
        ({"cluster": {**CLUSTER, "chief": ["c:1"]}, "task": {"type": "chief", "index": 0}}, True),
    ],
)
def test_only_the_chief_writes_the_run(monkeypatch, tf_config, chief):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    assert distribute.is_chief() == chief


def _mkdir(path):
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_training_run_is_found_again_and_keyed_by_its_settings(clips_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("AVGKIT_HOME", str(tmp_path))
    run = home.training_run(
        TINY, clips_dir, 3, adversarial=False, frequencies=QUIET, progress=False
    )
    assert [row["step"] for row in train_lib.read_log(run / "results" / "train_log.csv")] == [3]
    checkpoint = tf.train.latest_checkpoint(str(run / "checkpoints"))
    assert checkpoint.endswith("ckpt-3")
    modified = (run / "results" / "train_log.csv").stat().st_mtime_ns
    again = home.training_run(
        TINY, clips_dir, 3, adversarial=False, frequencies=QUIET, progress=False
    )
    assert again == run  # found again, not retrained
    assert (run / "results" / "train_log.csv").stat().st_mtime_ns == modified
    other = home.training_run(
        TINY, clips_dir, 3, adversarial=True, frequencies=QUIET, progress=False
    )
    assert other != run and other.parent == run.parent


def test_lesson_runs_continue_g_alone_with_and_without_d(clips_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("AVGKIT_HOME", str(tmp_path))
    runs = home.lesson_runs(TINY, clips_dir, 2, 4, 4, progress=False)
    steps = {
        label: [row["step"] for row in train_lib.read_log(run / "results" / "train_log.csv")]
        for label, run in runs.items()
    }
    assert steps == {"non-adversarial": [1, 2, 3, 4], "adversarial": [1, 2, 3, 4]}
    logged = train_lib.read_log(runs["adversarial"] / "results" / "train_log.csv")
    assert [np.isnan(row["d_loss"]) for row in logged] == [True, True, False, False]  # D from 3
    images = sorted(path.name for path in (runs["adversarial"] / "images" / "train").iterdir())
    assert images == [f"step_{step:08d}.png" for step in (1, 2, 3, 4)]
    # batches are a function of (seed, step) and the optimizer's state is restored, so G alone
    # continued from step 2 ends where 4 uninterrupted steps do
    whole = home.training_run(
        TINY, clips_dir, 4, adversarial=False, frequencies=QUIET, progress=False
    )
    weights = [
        evaluate.load_generator(run, TINY).get_weights()
        for run in (runs["non-adversarial"], whole, runs["adversarial"])
    ]
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(weights[0], weights[1]))
    assert not all(np.allclose(a, b, atol=1e-6) for a, b in zip(weights[0], weights[2]))
    with pytest.raises(ConfigError, match="g_alone_steps 4: expected fewer than both"):
        home.lesson_runs(TINY, clips_dir, 4, 4, 6, progress=False)
    with pytest.raises(ConfigError, match="at step 4, not before the 4 steps asked for"):
        home.training_run(TINY, clips_dir, 4, progress=False, start=runs["adversarial"])


def test_the_lesson_recipe_is_l1_gdl_with_g_and_d_by_adam():
    lesson = config.lesson("official", 3e-3)
    official = config.preset("official")
    assert (lesson.g_feature_maps, lesson.lam_adv) == (official.g_feature_maps, 0.01)
    assert (lesson.l_num, lesson.lam_gdl, lesson.d_extra_examples) == (1, 1.0, False)
    assert (lesson.g_optimizer, lesson.g_learning_rate) == ("adam", 3e-3)
    assert (lesson.d_optimizer, lesson.d_learning_rate) == ("adam", 1e-4)


@pytest.mark.parametrize(
    "steps, expected",
    [
        (200, (10, 4, 50, 201, 50)),  # short: 20 stats rows, 50 summaries, 4 images and saves
        (3000, (10, 60, 750, 3001, 750)),
        (500_000, (10, 100, 1000, 500_001, 10_000)),  # long: the TF1 defaults
        (1, (1, 1, 1, 2, 1)),
    ],
)
def test_frequencies_fit_the_step_count(steps, expected):
    got = train_lib.Frequencies.for_steps(steps)
    assert (got.stats, got.summary, got.images, got.test, got.save) == expected


def test_mixed_precision_refused_where_bfloat16_would_be_emulated(clips_dir, tmp_path, monkeypatch):
    """On a CPU without AVX512-BF16 or AMX-BF16, --mixed_precision would run 2-14x slower than
    float32 (README, Performance): one line, and the run folder is not made."""
    assert machine.has_bfloat16(["avx2", "fma", "avx512f"]) is False
    assert machine.has_bfloat16(["avx2", "avx512_bf16"]) and machine.has_bfloat16(["amx_bf16"])
    monkeypatch.setattr(machine, "has_bfloat16", lambda flags=None: False)
    with pytest.raises(ConfigError, match=r"--mixed_precision: this CPU \(.+\) has no bfloat16"):
        train_lib.train(TINY, clips_dir, tmp_path / "run", 2, precision="mixed", progress=False)
    assert not (tmp_path / "run").exists()


def test_mixed_precision_refused_where_onednn_is_off(clips_dir, tmp_path, monkeypatch):
    """With TF_ENABLE_ONEDNN_OPTS=0 even an AMX CPU ran bfloat16 steps 5-11x slower than float32
    (README, Performance): one line naming the variable, and the run folder is not made."""
    monkeypatch.setattr(machine, "has_bfloat16", lambda flags=None: True)
    monkeypatch.setattr(machine, "onednn_enabled", lambda: False)
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    with pytest.raises(ConfigError, match=r"oneDNN kernels are off .*TF_ENABLE_ONEDNN_OPTS=0\)"):
        train_lib.train(TINY, clips_dir, tmp_path / "run", 2, precision="mixed", progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(
    (platform.system(), platform.machine()) != ("Linux", "x86_64"),
    reason="TensorFlow builds with oneDNN on Linux x86 only",
)
@pytest.mark.parametrize("setting, enabled", [("0", False), ("1", True)])
def test_onednn_switch_is_read_back_from_tensorflow(setting, enabled):
    """machine.onednn_enabled() in a fresh process that sets TF_ENABLE_ONEDNN_OPTS."""
    code = "from avgkit import machine; print(machine.onednn_enabled())"
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": setting}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(enabled)


@pytest.fixture(scope="module")
def acted_clips(tmp_path_factory):
    """ROOT/Train/v: 30 indexed frames (conftest) with random actions; ROOT/clips: 6-frame
    clips of it in shards of 64. Returns ROOT and the action index of every frame."""
    root = tmp_path_factory.mktemp("acted")
    write_indexed_video(root / "Train" / "v", 30, seed=1)
    written = write_actions(root, seed=2)["v"]
    spec = clips_lib.ClipSpec(clip_length=6)
    clips_lib.process(root / "Train", root / "clips", 320, shard_size=64, spec=spec,
                      progress=False)  # fmt: skip
    return root, np.array([ACTION_SET.index(name) for name in written])


def test_each_batch_comes_with_its_frames_actions_row_for_row(acted_clips):
    root, expected = acted_clips
    acting = dataclasses.replace(
        TINY, actions=ACTION_SET, d_extra_examples=True, curriculum=((1, 2), (2, 2))
    )
    batches = train_lib.ShardBatches(root / "clips", acting, seed=2, block_steps=3)
    plain = train_lib.ShardBatches(root / "clips", dataclasses.replace(acting, actions=()), 2,
                                   block_steps=3)  # fmt: skip
    for step in range(4):
        clips, actions = batches.batch(step), batches.actions(step)
        frames = 4 + acting.rollout_steps(step)
        assert [a.shape for a in actions] == [(8, frames), (8, frames), (2, 8, 5)]
        for batch, action, same in zip(clips, actions, plain.batch(step)):
            np.testing.assert_array_equal(batch, same)  # the clips do not depend on actions
            np.testing.assert_array_equal(action, expected[frame_indices(batch)])
    assert plain.actions(0) is None and plain.fixed_actions(4) is None
    fixed, fixed_actions = batches.fixed(4), batches.fixed_actions(4)
    assert fixed.shape == (4, 32, 32, 15)
    np.testing.assert_array_equal(fixed_actions, expected[frame_indices(fixed)])
    batches.close()
    plain.close()


def test_an_action_conditioned_trainer_needs_the_actions():
    trainer = train_lib.Trainer(dataclasses.replace(TINY, actions=ACTION_SET))
    clips = np.zeros((8, 32, 32, 15), np.uint8)
    with pytest.raises(ConfigError, match=r"this model is action-conditioned; expected the act"):
        trainer.train_step(clips, clips)
    with pytest.raises(ConfigError, match=r"actions for 1 batches of clips; expected 2"):
        trainer.train_step(clips, clips, actions=(np.zeros((8, 5), np.uint8),))
    with pytest.raises(ConfigError, match=r"this model is not action-conditioned; expected none"):
        train_lib.Trainer(TINY).train_step(clips, clips, actions=(clips, clips))
