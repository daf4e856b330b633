"""Training on G's own rollouts: the K-step loss, D on rolled-out frames, the curriculum."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import tensorflow as tf

from avgkit import cli, config, losses, models
from avgkit import train as train_lib
from avgkit.data import clips as clips_lib
from avgkit.data import frames as frames_lib
from avgkit.data import pipeline
from avgkit.errors import ConfigError, DataError
from conftest import ACTION_SET, write_actions, write_video

TINY = config.preset("tiny")


def clips(frames: int, seed: int = 0, batch: int = TINY.batch_size) -> np.ndarray:
    """uint8 (batch, 32, 32, 3 * frames): a bright square moving 2 px a frame on noise."""
    rng = np.random.default_rng(seed)
    out = rng.integers(0, 60, (batch, 32, 32, 3 * frames), dtype=np.uint8)
    for t in range(frames):
        for b in range(batch):
            y, x = 4 + b % 3, 2 + 2 * t + b % 2
            out[b, y : y + 8, x : x + 8, 3 * t : 3 * t + 3] = 220
    return out


def by_hand(trainer, clip, adversarial: bool, actions=None):
    """L_G of a 2-step rollout written out: p1 = G(h), h2 = (h without its first frame, p1),
    p2 = G(h2); the mean of L_G(p1, t1) and L_G(p2, t2), D judging each after its history.
    actions: (batch, 6), those of the clip's frames: G and D get a_4 with p1, a_5 with p2."""
    c = trainer.config
    frames = pipeline.to_unit(tf.constant(clip))
    history, t1, t2 = frames[..., :12], frames[..., 12:15], frames[..., 15:18]
    a1, a2 = (None, None) if actions is None else (actions[:, 4], actions[:, 5])
    p1 = trainer.generator(history, a1)
    history2 = tf.concat([history[..., 3:], p1[-1]], axis=-1)
    p2 = trainer.generator(history2, a2)
    total = 0.0
    for seen, predictions, target, action in ((history, p1, t1, a1), (history2, p2, t2, a2)):
        logits = trainer.discriminator(seen, predictions, action) if adversarial else None
        total += losses.combined_generator_loss(predictions, models.pyramid(target, c), logits, c)[
            0
        ]
    return total / 2


@pytest.mark.parametrize("adversarial", [False, True])
def test_the_gradient_of_a_two_step_loss_flows_back_through_the_recursion(adversarial, monkeypatch):
    trainer = train_lib.Trainer(TINY, adversarial=adversarial)
    clip = clips(6)
    variables = trainer.generator.trainable_variables
    frames = pipeline.to_unit(tf.constant(clip))
    with tf.GradientTape(persistent=True) as tape:
        got, _, _ = trainer.rollout_loss(frames[..., :12], [frames[..., 12:15], frames[..., 15:]])
        want = by_hand(trainer, clip, adversarial)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    for mine, theirs in zip(tape.gradient(got, variables), tape.gradient(want, variables)):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-4, atol=1e-7)
    # ... and it is not the gradient of the same loss with the fed-back frame held constant
    original = models.next_history
    monkeypatch.setattr(
        models.generator, "next_history", lambda h, f: original(h, tf.stop_gradient(f))
    )
    with tf.GradientTape() as stopped:
        cut, _, _ = trainer.rollout_loss(frames[..., :12], [frames[..., 12:15], frames[..., 15:]])
    np.testing.assert_allclose(cut.numpy(), got.numpy(), rtol=1e-6)
    difference = [
        np.abs(a.numpy() - b.numpy()).max()
        for a, b in zip(stopped.gradient(cut, variables), tape.gradient(got, variables))
    ]
    assert max(difference) > 1e-6


ACTING = dataclasses.replace(TINY, actions=("NOOP", "UP", "DOWN"))
ACTIONS = np.random.default_rng(4).integers(0, 3, (TINY.batch_size, 6)).astype(np.uint8)


@pytest.mark.parametrize("adversarial", [False, True])
def test_a_two_step_loss_gives_g_and_d_the_action_towards_each_frame(adversarial):
    trainer = train_lib.Trainer(ACTING, adversarial=adversarial)
    clip = clips(6)
    frames = pipeline.to_unit(tf.constant(clip))
    targets = [frames[..., 12:15], frames[..., 15:]]
    variables = trainer.generator.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        got, _, _ = trainer.rollout_loss(frames[..., :12], targets, ACTIONS[:, 4:])
        want = by_hand(trainer, clip, adversarial, ACTIONS)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    for mine, theirs in zip(tape.gradient(got, variables), tape.gradient(want, variables)):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-4, atol=1e-7)
    other = ACTIONS[:, 4:].copy()
    other[:, 1] = (other[:, 1] + 1) % 3  # another action towards the second frame
    changed, _, _ = trainer.rollout_loss(frames[..., :12], targets, other)
    assert abs(changed.numpy() - got.numpy()) > 1e-6


def test_one_step_is_the_papers_step():
    """K = 1: rollout_loss is L_G(G(h), target) with D(h, G(h)), bit for bit."""
    trainer = train_lib.Trainer(TINY)
    frames = pipeline.to_unit(tf.constant(clips(5)))
    history, target = pipeline.split_clip(frames, 4)
    loss, terms, first = trainer.rollout_loss(history, [target])
    predictions = trainer.generator(history)
    want, want_terms = losses.combined_generator_loss(
        predictions, models.pyramid(target, TINY), trainer.discriminator(history, predictions), TINY
    )
    assert loss.numpy() == want.numpy()
    for name in want_terms:
        np.testing.assert_array_equal(terms[name].numpy(), want_terms[name].numpy())
    np.testing.assert_array_equal(first.numpy(), predictions[-1].numpy())


def test_the_batches_of_each_stage_are_the_first_frames_of_the_stored_clips(data):
    """ShardBatches under a curriculum: each step's G and D batches hold hist_len + K frames,
    the first ones of stored 6-frame clips; D's extra batches and the fixed batch one step."""
    c = dataclasses.replace(TINY, curriculum=((1, 2), (2, 2)), d_extra_examples=True)
    batches = train_lib.ShardBatches(data / "clips6", c)
    stored = {clip.tobytes(): clip for clip in _all_clips(data / "clips6")}
    for step, frames in enumerate([5, 5, 6, 6]):
        g_batch, d_batch, extra = batches.batch(step)
        assert g_batch.shape[-1] == d_batch.shape[-1] == 3 * frames
        assert extra.shape[-1] == batches.fixed(2).shape[-1] == 15
    first = batches.block_clips(0)[: c.batch_size]  # step 0's G batch, whole
    np.testing.assert_array_equal(batches.batch(0)[0], first[..., :15])
    assert all(clip.tobytes() in stored for clip in first)
    batches.close()


def _all_clips(clips_dir):
    manifest = clips_lib.read_manifest(clips_dir)
    return np.concatenate([clips_lib.load_shard(clips_dir / s["file"]) for s in manifest["shards"]])


@pytest.mark.parametrize("acting", [False, True])
def test_d_judges_each_rolled_out_frame_after_the_history_g_saw(acting):
    """D's loss in a K = 2 step, SGD on D: the mean over k of BCE(D(real window k, real frame k),
    1) + BCE(D(G's history k, G's frame k), 0), with BCE in numpy; with actions, G and D get
    the clip's action towards frame k (index 4 + k) with both."""
    c = dataclasses.replace(ACTING if acting else TINY, d_optimizer="sgd", d_learning_rate=0.02)
    trainer = train_lib.Trainer(c)
    d_clips = clips(6, seed=2)
    frames = pipeline.to_unit(tf.constant(d_clips))
    actions = ACTIONS if acting else None
    future = None if actions is None else actions[:, 4:]
    rollout = models.unroll(trainer.generator, frames[..., :12], 2, future)

    def bce(x, label):
        return np.mean(np.maximum(x, 0) - x * label + np.log1p(np.exp(-np.abs(x))))

    total = 0.0
    for k, (seen, fakes) in enumerate(rollout):
        real_history, real = frames[..., 3 * k : 3 * k + 12], frames[..., 3 * k + 12 : 3 * k + 15]
        action = None if actions is None else actions[:, 4 + k]
        for history, pyramid, label in (
            (real_history, models.pyramid(real, c), 1.0),
            (seen, fakes, 0.0),
        ):
            logits = trainer.discriminator(history, pyramid, action)
            total += sum(bce(x.numpy(), label) for x in logits)
    given = {} if actions is None else {"actions": (ACTIONS[::-1], actions)}  # G's, D's
    got = trainer.train_step(clips(6, seed=3), d_clips, **given)
    np.testing.assert_allclose(got["d_loss"], total / 2, rtol=1e-5)
    assert np.isfinite(got["g_loss"])


def test_the_curriculum_sets_k_by_step_and_the_clip_length():
    c = dataclasses.replace(TINY, curriculum=((1, 3), (3, 2), (5, 1)))
    assert [c.rollout_steps(step) for step in range(6)] == [1, 1, 1, 3, 3, 5]
    assert c.clip_frames == 9 and TINY.clip_frames == 5
    assert config.from_dict(c.to_dict()) == c  # lists from JSON become the same tuples
    with pytest.raises(ConfigError, match=r"curriculum\[0\]\[1\] \(training steps\)"):
        dataclasses.replace(TINY, curriculum=((2, 0),))


def test_a_curriculum_must_add_up_to_the_steps(tmp_path):
    c = dataclasses.replace(TINY, curriculum=((1, 5), (2, 5)))
    with pytest.raises(
        ConfigError, match=r"--curriculum 1:5,2:5 adds up to 10 steps; expected --steps 12"
    ):
        train_lib.train(c, tmp_path / "no clips", tmp_path / "run", 12)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """ROOT/Train, ROOT/Test, ROOT/clips (5 frames) and ROOT/clips6 (6 frames a clip)."""
    root = tmp_path_factory.mktemp("rollout_data")
    write_video(root / "Train" / "a", 24, seed=1)
    write_video(root / "Test" / "b", 10, seed=3)
    for name, length in (("clips", 5), ("clips6", 6)):
        spec = clips_lib.ClipSpec(clip_length=length)
        clips_lib.process(root / "Train", root / name, 96, spec=spec, progress=False)
    return root


def one_line_error(capsys, code, *fragments):
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("avgkit train: error: "), lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_longer_clips_hold_consecutive_frames_filtered_on_the_first_five(data):
    manifest = clips_lib.read_manifest(data / "clips6")
    assert manifest["clip_length"] == 6
    shard = data / "clips6" / manifest["shards"][0]["file"]
    cut = clips_lib.load_shard(shard)
    assert cut.shape[1:] == (32, 32, 18)
    with np.load(shard) as stored:  # the score kept is that of the first hist_len + 1 frames
        scores = stored["scores"]
    want = [clips_lib.movement_score(clip[..., :15]) for clip in cut]
    np.testing.assert_allclose(scores, want, rtol=1e-5)
    (video,), _ = frames_lib.list_videos(data / "Train")
    frames = frames_lib.read_video(video, range(len(video)))
    runs = np.stack(
        [np.concatenate(list(frames[t : t + 6]), axis=-1) for t in range(len(frames) - 5)]
    )
    windows = np.lib.stride_tricks.sliding_window_view(
        runs, (32, 32), axis=(1, 2)
    )  # (T, y, x, 18, 32, 32)
    for clip in cut[:8]:  # each clip: 6 consecutive frames of the video, at one crop
        assert np.all(windows == clip.transpose(2, 0, 1), axis=(-3, -2, -1)).any()
    backwards = np.concatenate(np.split(cut[0], 6, axis=-1)[::-1], axis=-1)
    assert not np.all(windows == backwards.transpose(2, 0, 1), axis=(-3, -2, -1)).any()


def test_a_rollout_run_trains_and_resumes_only_with_its_curriculum(data, tmp_path, capsys):
    common = [
        "-c",
        data / "clips6",
        "-t",
        data / "Test",
        "--runs_dir",
        tmp_path,
        "--preset",
        "tiny",
    ]
    code = train(*common, "-n", "r", "--steps", 6, "--curriculum", "1:3,2:3", "--loss", "adv_gdl")
    assert code == 0
    saved = config.load(tmp_path / "r" / "config.json")
    assert saved.curriculum == ((1, 3), (2, 3))
    capsys.readouterr()
    code = train(*common, "-n", "r", "--steps", 8, "--rollout_steps", 2)
    one_line_error(
        capsys, code, "trained with curriculum 1:3,2:3", "resume it with that curriculum"
    )
    code = train(*common, "-n", "r", "--steps", 7, "--curriculum", "1:3,2:3")
    one_line_error(capsys, code, "--curriculum 1:3,2:3 adds up to 6 steps; expected --steps 7")
    assert train(*common, "-n", "r", "--steps", 8) == 0  # no flag: its last stage goes on
    assert train_lib.read_log(tmp_path / "r" / "results" / "train_log.csv")[-1]["step"] == 8
    code = train(*common, "-n", "r", "--steps", 2, "-O", "--rollout_steps", 1)
    assert code == 0 and config.load(tmp_path / "r" / "config.json").curriculum == ()


@pytest.mark.parametrize(
    "flags, fragments",
    [
        (
            ["--rollout_steps", 3],
            ["clips of 6 frames; a rollout of 3 frames", "clips6-7 -n 96 --clip_length 7`"],
        ),
        (["--curriculum", "1:2,two:2"], ["--curriculum 1:2,two:2: expected stages K:STEPS"]),
        (
            ["--curriculum", "1:2,2:1"],
            ["--curriculum 1:2,2:1 adds up to 3 steps; expected --steps 4"],
        ),
        (["--rollout_steps", 2, "--curriculum", "1:4"], ["pass one or the other"]),
    ],
)
def test_bad_rollout_flags_give_one_line_and_no_run_folder(
    data, tmp_path, capsys, flags, fragments
):
    code = train("-c", data / "clips6", "--runs_dir", tmp_path, "--preset", "tiny", "-n", "bad",
                 "--steps", 4, *flags)  # fmt: skip
    one_line_error(capsys, code, *fragments)
    assert not (tmp_path / "bad").exists()


def test_one_step_clips_refuse_a_rollout_in_one_line(data, tmp_path, capsys):
    code = train("-c", data / "clips", "--runs_dir", tmp_path, "--preset", "tiny", "-n", "r",
                 "--steps", 2, "--rollout_steps", 2)  # fmt: skip
    one_line_error(capsys, code, "clips of 5 frames", "clips-6 -n 96 --clip_length 6`")


def test_clips_cut_before_clip_length_was_recorded_still_train(data, tmp_path, capsys):
    """A manifest without clip_length (made before rollouts) reads as 5-frame clips: one-step
    training runs on it, a rollout is refused as for any 5-frame clips."""
    old = tmp_path / "old_clips"
    shutil.copytree(data / "clips", old)
    manifest = json.loads((old / clips_lib.MANIFEST).read_text())
    del manifest["clip_length"]
    (old / clips_lib.MANIFEST).write_text(json.dumps(manifest))
    common = ["-c", old, "--runs_dir", tmp_path, "--preset", "tiny", "--steps", 2]
    assert train(*common, "-n", "one") == 0, capsys.readouterr().err
    assert (tmp_path / "one" / "checkpoints" / "checkpoint").exists()
    capsys.readouterr()
    code = train(*common, "-n", "two", "--rollout_steps", 2)
    one_line_error(capsys, code, "clips of 5 frames")


def train(*args):
    return cli.main(["train", *map(str, args)])


@pytest.fixture(scope="module")
def acted(tmp_path_factory):
    """ROOT/Train, ROOT/Test with actions (conftest.write_actions), ROOT/clips6 (6 frames)."""
    root = tmp_path_factory.mktemp("acted")
    write_video(root / "Train" / "a", 24, seed=1)
    write_video(root / "Test" / "b", 10, seed=3)
    write_actions(root)
    spec = clips_lib.ClipSpec(clip_length=6)
    clips_lib.process(root / "Train", root / "clips6", 96, spec=spec, progress=False)
    return root


def test_an_action_conditioned_rollout_run_trains_tests_and_resumes(acted, tmp_path, capsys):
    where = ["-c", acted / "clips6", "-t", acted / "Test", "--runs_dir", tmp_path]
    common = [*where, "--preset", "tiny", "-n", "a", "--curriculum", "1:2,2:2", "--steps", 4]
    assert train(*common, "--actions", "--test_freq", 2, "-r", 3) == 0
    saved = config.load(tmp_path / "a" / "config.json")
    assert saved.actions == ACTION_SET and saved.curriculum == ((1, 2), (2, 2))
    tested = json.loads((tmp_path / "a" / "results" / "test_step_00000004.json").read_text())
    assert len(tested["psnr"]) == 3 and all(np.isfinite(tested["psnr"]))
    assert train(*common) == 0  # resumed without --actions: the run's own, already finished
    assert "already at step 4" in capsys.readouterr().out
    (acted / "Test" / "b" / "actions.csv").rename(acted / "Test" / "b" / "kept.csv")
    try:  # the model's test folder must have actions
        code = train(*where, "--preset", "tiny", "-n", "b", "--actions", "--steps", 1)
    finally:
        (acted / "Test" / "b" / "kept.csv").rename(acted / "Test" / "b" / "actions.csv")
    one_line_error(capsys, code, "b has no actions.csv; a model trained with --actions")
    assert not (tmp_path / "b").exists()


def test_actions_on_clips_without_actions_give_one_line_and_no_run_folder(data, tmp_path, capsys):
    code = train("-c", data / "clips6", "--runs_dir", tmp_path, "--preset", "tiny", "-n", "bad",
                 "--steps", 2, "--actions")  # fmt: skip
    one_line_error(capsys, code, f"--actions: the clips in {data / 'clips6'} have no actions")
    assert not (tmp_path / "bad").exists()
    acting = dataclasses.replace(TINY, actions=ACTION_SET)  # the library refuses them too
    with pytest.raises(DataError, match="--actions: the clips in .* have no actions"):
        train_lib.train(acting, data / "clips6", tmp_path / "lib", 2, progress=False)


def test_a_gated_run_trains_its_gates_on_rollouts(acted, tmp_path):
    """--action_gates: G's gates start at zero and move with training; the config keeps them."""
    common = ["-c", acted / "clips6", "--runs_dir", tmp_path, "--preset", "tiny", "-n", "g"]
    assert train(*common, "--rollout_steps", 2, "--steps", 2, "--actions", "--action_gates") == 0
    saved = config.load(tmp_path / "g" / "config.json")
    assert saved.action_gates and saved.actions == ACTION_SET
    trainer = train_lib.Trainer(saved)
    train_lib.restore(trainer, tf.train.latest_checkpoint(str(tmp_path / "g" / "checkpoints")))
    gates = [w.numpy() for w in trainer.generator.weights if "_gate" in w.path]
    assert len(gates) == sum(len(maps) for maps in saved.g_feature_maps)
    assert all(np.abs(gate).max() > 0 for gate in gates)
