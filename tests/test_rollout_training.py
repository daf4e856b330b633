"""Training on G's own rollouts: the K-step loss, D on rolled-out frames, the curriculum."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from avgkit import cli, config, losses, models
from avgkit import train as train_lib
from avgkit.data import clips as clips_lib
from avgkit.data import frames as frames_lib
from avgkit.data import pipeline
from avgkit.errors import ConfigError
from conftest import write_video

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


def by_hand(trainer, clip, adversarial: bool):
    """L_G of a 2-step rollout written out: p1 = G(h), h2 = (h without its first frame, p1),
    p2 = G(h2); the mean of L_G(p1, t1) and L_G(p2, t2), D judging each after its history."""
    c = trainer.config
    frames = pipeline.to_unit(tf.constant(clip))
    history, t1, t2 = frames[..., :12], frames[..., 12:15], frames[..., 15:18]
    p1 = trainer.generator(history)
    history2 = tf.concat([history[..., 3:], p1[-1]], axis=-1)
    p2 = trainer.generator(history2)
    total = 0.0
    for seen, predictions, target in ((history, p1, t1), (history2, p2, t2)):
        logits = trainer.discriminator(seen, predictions) if adversarial else None
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


def test_a_one_step_train_step_ignores_the_frames_after_the_target():
    """The first 5 frames of 7-frame clips at K = 1 train exactly as 5-frame clips."""
    long = clips(7)
    steps = [train_lib.Trainer(TINY) for _ in range(2)]
    a = steps[0].train_step(long[..., :15], clips(7, seed=1)[..., :15])
    b = steps[1].train_step(long[..., :15], clips(7, seed=1)[..., :15])
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


def test_d_judges_each_rolled_out_frame_after_the_history_g_saw():
    """D's loss in a K = 2 step, SGD on D: the mean over k of BCE(D(real window k, real frame k),
    1) + BCE(D(G's history k, G's frame k), 0), with BCE in numpy."""
    c = dataclasses.replace(TINY, d_optimizer="sgd", d_learning_rate=0.02)
    trainer = train_lib.Trainer(c)
    d_clips = clips(6, seed=2)
    frames = pipeline.to_unit(tf.constant(d_clips))
    rollout = models.unroll(trainer.generator, frames[..., :12], 2)

    def bce(x, label):
        return np.mean(np.maximum(x, 0) - x * label + np.log1p(np.exp(-np.abs(x))))

    total = 0.0
    for k, (seen, fakes) in enumerate(rollout):
        real_history, real = frames[..., 3 * k : 3 * k + 12], frames[..., 3 * k + 12 : 3 * k + 15]
        for history, pyramid, label in (
            (real_history, models.pyramid(real, c), 1.0),
            (seen, fakes, 0.0),
        ):
            total += sum(bce(x.numpy(), label) for x in trainer.discriminator(history, pyramid))
    got = trainer.train_step(clips(6, seed=3), d_clips)
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


@pytest.mark.parametrize(
    "flags, fragments",
    [
        (
            ["--rollout_steps", 3],
            ["--rollout_steps 3: the clips in", "have 6 frames", "--clip_length 7"],
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
    one_line_error(capsys, code, "have 5 frames", "avgkit process --clip_length 6")


def train(*args):
    return cli.main(["train", *map(str, args)])
