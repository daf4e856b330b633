"""Evaluation: compiled rollouts, baselines, per-horizon scores with intervals, the files of
`avgkit evaluate`, its clear errors, and the paper's loss ablation as `avgkit train --loss`."""

from __future__ import annotations

import csv
import dataclasses
import json
import re

import cv2
import imageio.v3 as iio
import keras
import numpy as np
import pytest

from avgkit import cli, config, evaluate, metrics, models
from avgkit import train as train_lib
from avgkit.data import actions as action_lib
from avgkit.data import clips as clips_lib
from avgkit.data import frames as frames_lib
from avgkit.data import pipeline
from avgkit.errors import ConfigError, DataError
from conftest import ACTION_SET, write_actions, write_video

TINY = config.preset("tiny")
QUIET = train_lib.Frequencies(stats=1000, summary=1000, images=1000, test=1000)
RECURSIONS = 3


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """ROOT/{Train,Test}, clips, and two tiny runs of 2 steps (non-adversarial, which is
    quicker to build): runs/plain (the preset's config, by the library) and runs/l1_gdl
    (`avgkit train --loss l1_gdl`)."""
    root = tmp_path_factory.mktemp("evaluate")
    write_video(root / "Train" / "a", 20, seed=1)
    write_video(root / "Train" / "b", 20, seed=2)
    write_video(root / "Test" / "c", 12, seed=3)
    write_video(root / "Test" / "d", 12, seed=4)
    clips_lib.process(root / "Train", root / "clips", 64, workers=1, progress=False)
    train_lib.train(TINY, root / "clips", root / "runs" / "plain", 2, adversarial=False,
                    frequencies=QUIET, progress=False)  # fmt: skip
    code = cli.main(["train", "--loss", "l1_gdl", *("--preset", "tiny", "--steps", "2"),
                     *("-c", str(root / "clips"), "-n", "l1_gdl", "--runs_dir", str(root / "runs")),
                     *("--stats_freq", "1", "--test_freq", "1000")])  # fmt: skip
    assert code == 0
    return root


# --- rollouts and baselines -------------------------------------------------------------------
def test_rollout_is_the_generator_applied_recursively_in_one_trace(monkeypatch):
    generator = models.build_generator(TINY)
    inputs = np.random.default_rng(0).uniform(-1, 1, (3, 21, 16, 12)).astype(np.float32)
    steps = []
    compiled = evaluate._compiled_step
    monkeypatch.setattr(
        evaluate, "_compiled_step", lambda *args: steps.append(compiled(*args)) or steps[-1]
    )
    frames = evaluate.rollout(generator, inputs, recursions=4, batch_size=2)
    history, expected = inputs, []
    for _ in range(4):
        expected.append(generator(history)[-1].numpy())
        history = np.concatenate([history[..., 3:], expected[-1]], axis=-1)
    np.testing.assert_allclose(frames, np.stack(expected, axis=1), atol=1e-5)
    evaluate.rollout(generator, inputs[:1], recursions=2)  # another call: the same trace
    assert steps[1] is steps[0]
    assert steps[0].experimental_get_tracing_count() == 1  # batches of 2 and 1, 4 recursions


def test_copy_last_repeats_the_last_input():
    inputs = np.random.default_rng(0).uniform(-1, 1, (2, 5, 7, 12)).astype(np.float32)
    frames = evaluate.copy_last(inputs, 3)
    assert frames.shape == (2, 3, 5, 7, 3) and frames.dtype == np.float32
    np.testing.assert_array_equal(frames, np.broadcast_to(inputs[:, None, ..., 9:], frames.shape))


def test_flow_extrapolation_continues_a_translation():
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.uniform(-1, 1, (48, 96)).astype(np.float32), (0, 0), 3)
    texture *= 0.8 / np.abs(texture).max()
    frames = np.stack([np.roll(texture, 2 * t, axis=1) for t in range(7)])[..., None].repeat(3, -1)
    inputs = pipeline.stack_frames(frames[:4])[None]  # moving 2 px right a frame
    predicted = evaluate.flow_extrapolation(inputs, 3)
    assert predicted.shape == (1, 3, 48, 96, 3)
    core = np.s_[8:-8, 16:-16]  # away from the wrapped edge
    for r in range(3):
        np.testing.assert_allclose(predicted[0, r][core], frames[4 + r][core], atol=0.01)
    with pytest.raises(ConfigError, match="2 or more input frames"):
        evaluate.flow_extrapolation(inputs[..., :3], 1)


def test_flow_extrapolation_of_a_still_frame_is_the_frame(mspacman):
    # Unpadded, Farneback finds flow at the edges of two identical frames; at horizon 8 that
    # would move the border pixels by several pixels.
    frame = pipeline.to_unit(pipeline.test_sequences(mspacman / "Test", 1, 1)[0][0, 0])
    inputs = pipeline.stack_frames(np.stack([frame] * 4))[None]
    np.testing.assert_allclose(
        evaluate.flow_extrapolation(inputs, 8), evaluate.copy_last(inputs, 8), atol=1e-3
    )


def test_load_generator_restores_the_checkpoint_weights(runs):
    import tensorflow as tf

    checkpoint = tf.train.latest_checkpoint(str(runs / "runs" / "plain" / "checkpoints"))
    expected = models.build_generator(TINY)
    tf.train.Checkpoint(generator=expected).restore(checkpoint).expect_partial()
    loaded = evaluate.load_generator(runs / "runs" / "plain", TINY)
    history = np.random.default_rng(3).uniform(-1, 1, (1, 16, 16, 12)).astype(np.float32)
    np.testing.assert_allclose(loaded(history)[-1], expected(history)[-1], atol=1e-6)
    with pytest.raises(ConfigError, match="preset 'tiny'.*this run is preset 'small'"):
        evaluate.load_generator(runs / "runs" / "plain", config.preset("small"))


def test_checkpoints_take_the_labels_given():
    with pytest.raises(ConfigError, match="1 labels for 2 checkpoints"):
        evaluate.checkpoint_predictors(["a", "b"], labels=["one"])


# --- scores and intervals ---------------------------------------------------------------------
def test_score_is_the_metrics_per_horizon_and_region():
    rng = np.random.default_rng(1)
    predictions = rng.uniform(-1, 1, (3, 2, 16, 20, 3))
    truths = rng.integers(0, 256, (3, 2, 16, 20, 3), dtype=np.uint8)
    masks = rng.uniform(size=(3, 2, 16, 20)) < 0.3
    masks[1, 1] = False  # an empty moving area: NaN
    values = evaluate.score(predictions, truths, masks)
    assert set(values) == {(m, r) for m in evaluate.METRIC_TITLES for r in evaluate.REGIONS}
    for r in range(2):
        truth = pipeline.to_unit(truths[:, r])
        for name, function in [("psnr", metrics.psnr), ("ssim", metrics.ssim),
                               ("sharp_diff", metrics.sharp_diff)]:  # fmt: skip
            whole = function(predictions[:, r], truth)
            moving = function(predictions[:, r], truth, mask=masks[:, r])
            np.testing.assert_allclose(values[name, "whole"][r], whole)
            np.testing.assert_allclose(values[name, "moving"][r], moving)
    assert np.isnan(values["psnr", "moving"][1, 1]) and not np.isnan(values["psnr", "whole"][1, 1])


def test_student_t_and_confidence_interval_match_scipy():
    from scipy import stats  # installed with scikit-image (the dev extra)

    for df in list(range(1, 40)) + [50, 100, 1000]:
        assert evaluate.student_t975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=1e-5)
    values = np.random.default_rng(2).normal(30, 2, (4, 6))
    values[1, :2] = np.nan
    values[2, 1:] = np.nan  # n = 1: a mean, no interval
    values[3] = np.nan  # n = 0: nothing
    mean, low, high, n = evaluate.mean_ci(values)
    np.testing.assert_array_equal(n, [6, 4, 1, 0])
    for row in range(2):
        kept = values[row][~np.isnan(values[row])]
        half = stats.t.ppf(0.975, len(kept) - 1) * kept.std(ddof=1) / np.sqrt(len(kept))
        assert mean[row] == pytest.approx(kept.mean())
        assert (low[row], high[row]) == pytest.approx((kept.mean() - half, kept.mean() + half))
    assert mean[2] == values[2, 0] and np.isnan(low[2]) and np.isnan(high[2])
    assert np.isnan(mean[3])


def test_paired_differences_are_per_sequence():
    from scipy import stats

    rng = np.random.default_rng(4)
    first, second = rng.normal(30, 2, (2, 6)), rng.normal(29, 2, (2, 6))
    keys = [(m, r) for m in evaluate.METRIC_TITLES for r in evaluate.REGIONS]
    values = {"a": {k: first for k in keys}, "b": {k: second for k in keys}}
    results = evaluate.Results("t", 4, [f"s{i}" for i in range(6)], {}, values)
    mean, low, high, n = results.paired("a", "b")["psnr", "moving"]
    difference = first[1] - second[1]  # horizon 2, by hand
    half = stats.t.ppf(0.975, 5) * difference.std(ddof=1) / np.sqrt(6)
    assert mean[1] == pytest.approx(difference.mean()) and n[1] == 6
    assert (low[1], high[1]) == pytest.approx((difference.mean() - half, difference.mean() + half))
    table = results.difference_table("a", "b", horizons=(2, 64))
    row = next(
        line for line in table.splitlines() if line.startswith("PSNR (dB)") and "moving" in line
    )
    assert f"{difference.mean():+.2f}" in row and f"[{low[1]:+.2f}, {high[1]:+.2f}]" in row
    assert " 64 " not in table  # beyond the 2 horizons evaluated


# --- avgkit evaluate --------------------------------------------------------------------------
def test_evaluate_end_to_end_writes_scores_tables_plots_and_gifs(runs, tmp_path, capsys):
    run_dirs = [runs / "runs" / "l1_gdl", runs / "runs" / "plain"]
    code = cli.main(["evaluate", "-l", *map(str, run_dirs), "-t", str(runs / "Test"),
                     "-r", str(RECURSIONS), "-n", "cmp", "--runs-dir", str(tmp_path),
                     "--baselines"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    labels = ["l1_gdl", "plain", "copy_last", "flow"]
    assert all(label in out for label in labels) and "PSNR (dB)" in out
    results = tmp_path / "cmp" / "results"
    saved = json.loads((results / "metrics.json").read_text())
    assert list(saved["metrics"]) == labels and saved["sequences"] == ["c", "d"]
    assert saved["predictors"]["plain"]["checkpoint"].endswith("plain/checkpoints/ckpt-2")
    assert saved["predictors"]["l1_gdl"]["loss"] == "l1_gdl"
    assert saved["predictors"]["flow"] == {"baseline": "flow"}

    # the scores are the metrics of the rollouts, computed directly
    sequences, _ = pipeline.test_sequences(runs / "Test", TINY.hist_len, RECURSIONS)
    inputs = pipeline.stack_frames(pipeline.to_unit(sequences[:, :4]))
    truths = pipeline.to_unit(sequences[:, 4:])
    trainer = train_lib.Trainer(TINY)
    train_lib.restore(trainer, str(runs / "runs" / "plain" / "checkpoints" / "ckpt-2"))
    direct = {
        "plain": evaluate.rollout(trainer.generator, inputs, RECURSIONS),
        "copy_last": evaluate.copy_last(inputs, RECURSIONS),
    }
    for label, predicted in direct.items():
        for r in range(RECURSIONS):
            mask = metrics.motion_mask(pipeline.to_unit(sequences[:, 3]), truths[:, r])
            for region, region_mask in (("whole", None), ("moving", mask)):
                psnr = metrics.psnr(predicted[:, r], truths[:, r], mask=region_mask)
                ssim = metrics.ssim(predicted[:, r], truths[:, r], mask=region_mask)
                crisp = metrics.crispness(predicted[:, r], truths[:, r], mask=region_mask)
                entry = saved["metrics"][label]
                assert entry["psnr"][region]["values"][r] == pytest.approx(list(psnr), abs=1e-4)
                assert entry["ssim"][region]["mean"][r] == pytest.approx(np.mean(ssim), abs=1e-5)
                assert entry["crispness"][region]["values"][r] == pytest.approx(list(crisp))

    with (results / "metrics.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert tuple(rows[0]) == evaluate.CSV_COLUMNS
    assert len(rows) == len(labels) * RECURSIONS * 4 * 2  # psnr, ssim, sharp_diff, crispness
    row = next(r for r in rows if (r["predictor"], r["horizon"], r["metric"], r["region"])
               == ("copy_last", "2", "psnr", "whole"))  # fmt: skip
    mean, low, high, n = evaluate.mean_ci(
        np.array(saved["metrics"]["copy_last"]["psnr"]["whole"]["values"], float)
    )
    assert [float(row[k]) for k in ("mean", "ci_low", "ci_high")] == pytest.approx(
        [mean[1], low[1], high[1]]
    )
    assert int(row["n"]) == n[1] == 2
    summary = (results / "summary.txt").read_text()
    assert summary.count("PSNR (dB)") == 2 * 2  # whole and moving, horizons 1 and 2 (<= 3)
    assert iio.imread(results / "metrics.png").ndim == 3
    gif = iio.imread(tmp_path / "cmp" / "images" / "evaluate" / "c.gif", index=None)
    assert gif.shape[:3] == (4 + RECURSIONS, 14 + 48, 5 * 64)  # header; truth + 4 predictors
    assert not list((tmp_path / "cmp").rglob("*.tmp"))


def test_bad_input_fails_early_with_one_clear_error(runs, tmp_path, capsys):
    plain = runs / "runs" / "plain"
    with pytest.raises(ConfigError, match=r"preset 'tiny'; this run is preset 'small'"):
        evaluate.evaluate(tmp_path, runs / "Test", [plain], config=config.preset("small"))
    with pytest.raises(ConfigError, match=r"-r/--recursions 0: expected 1 or more"):
        evaluate.evaluate(tmp_path, runs / "Test", [plain], recursions=0)
    with pytest.raises(ConfigError, match="nothing to evaluate"):
        evaluate.evaluate(tmp_path, runs / "Test")
    with pytest.raises(ConfigError, match=r"--sequences_per_video 0: expected 1 or more"):
        evaluate.evaluate(tmp_path, runs / "Test", [plain], per_video=0)
    short = write_video(tmp_path / "short" / "e", 6).parent
    message = rf"{re.escape(str(short))}: .* 7 frames .* 4 inputs \+ 3 .*longest has 6"
    with pytest.raises(DataError, match=message):
        evaluate.evaluate(tmp_path, short, [plain], recursions=3, progress=False)
    code = cli.main(["evaluate", "-l", str(plain), "-t", str(runs / "Test"), "-r", "0"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith("avgkit evaluate: error: -r/--recursions 0")


# --- the paper's ablation ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "l_num", "lam_gdl", "lam_adv", "adversarial"),
    [
        ("l2", 2, 0.0, 0.0, False),
        ("l1", 1, 0.0, 0.0, False),
        ("l1_gdl", 1, 1.0, 0.0, False),
        ("adv", 2, 0.0, 0.05, True),
        ("adv_gdl", 1, 1.0, 0.05, True),
    ],
)
def test_named_losses_set_the_loss_fields(tmp_path, name, l_num, lam_gdl, lam_adv, adversarial):
    named = config.with_loss(TINY, name)
    fields = (named.loss, named.l_num, named.lam_gdl, named.lam_adv)
    assert fields == (name, l_num, lam_gdl, lam_adv)
    assert named.lam_lp == 1.0 and config.LOSSES[name].adversarial == adversarial
    assert named.g_feature_maps == TINY.g_feature_maps
    named.save(tmp_path / "config.json")
    assert config.load(tmp_path / "config.json") == named


def test_a_named_loss_is_checked():
    with pytest.raises(ConfigError, match=r"unknown loss 'gdl'; expected one of \['l2'"):
        config.with_loss(TINY, "gdl")
    with pytest.raises(ConfigError, match=r"loss 'l2' sets l_num = 2; got 1"):
        config.from_dict({**config.with_loss(TINY, "l2").to_dict(), "l_num": 1})
    with pytest.raises(ConfigError, match=r"loss must be null or one of"):
        config.from_dict({**TINY.to_dict(), "loss": "l3"})


def test_train_with_a_named_loss_records_it_and_resumes(runs, capsys):
    run = runs / "runs" / "l1_gdl"
    saved = config.load(run / "config.json")
    assert (saved.loss, saved.l_num, saved.lam_gdl, saved.lam_adv) == ("l1_gdl", 1, 1.0, 0.0)
    log = train_lib.read_log(run / "results" / "train_log.csv")
    assert [row["step"] for row in log] == [1, 2] and np.isnan(log[0]["d_loss"])  # no D
    common = ["-c", str(runs / "clips"), "-n", "l1_gdl", "--runs_dir", str(runs / "runs")]
    code = cli.main(["train", "-a", "f", "--loss", "adv", *common])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "loss 'adv' trains adversarially" in lines[0]
    code = cli.main(["train", "--loss", "l2", "--steps", "2", *common])  # not the run's loss
    assert code == 2 and "another config (lam_gdl, l_num, loss differ)" in capsys.readouterr().err
    assert cli.main(["train", "--steps", "2", *common]) == 0  # the run's own loss: nothing to do


def test_the_library_refuses_a_loss_row_with_the_other_mode(runs, tmp_path):
    for name, adversarial in (("adv", False), ("l2", True)):
        with pytest.raises(ConfigError, match=f"loss '{name}' of the ablation trains"):
            train_lib.train(config.with_loss(TINY, name), runs / "clips", tmp_path / name, 1,
                            adversarial=adversarial, progress=False)  # fmt: skip


# --- action-conditioned models ------------------------------------------------------------------
ACTING = dataclasses.replace(TINY, actions=ACTION_SET)


def test_an_action_conditioned_rollout_plays_the_actions_given(monkeypatch):
    keras.utils.set_random_seed(2)
    generator = models.build_generator(ACTING)
    inputs = np.random.default_rng(0).uniform(-1, 1, (3, 21, 16, 12)).astype(np.float32)
    actions = np.array([[0, 1, 2], [4, 4, 4], [3, 0, 1]], np.uint8)
    steps = []
    compiled = evaluate._compiled_step
    monkeypatch.setattr(
        evaluate, "_compiled_step", lambda *args: steps.append(compiled(*args)) or steps[-1]
    )
    frames = evaluate.rollout(generator, inputs, 3, batch_size=2, actions=actions)
    history, expected = inputs, []
    for r in range(3):
        expected.append(generator(history, actions[:, r])[-1].numpy())
        history = np.concatenate([history[..., 3:], expected[-1]], axis=-1)
    np.testing.assert_allclose(frames, np.stack(expected, axis=1), atol=1e-5)
    assert steps[0].experimental_get_tracing_count() == 1
    named = action_lib.indices([["NOOP", "UP", "RIGHT"], ["DOWN"] * 3, ["LEFT", "NOOP", "UP"]],
                               ACTION_SET)  # fmt: skip
    np.testing.assert_array_equal(named, actions)
    with pytest.raises(DataError, match=r"action 'JUMP' is not in the action set \(NOOP, UP"):
        action_lib.indices([["JUMP"]], ACTION_SET)


def test_a_rollout_checks_its_actions():
    acting, plain = models.build_generator(ACTING), models.build_generator(TINY)
    inputs = np.zeros((2, 16, 16, 12), np.float32)
    with pytest.raises(ConfigError, match=r"conditioned on 5 actions \(NOOP, UP, RIGHT, LEFT, "):
        evaluate.rollout(acting, inputs, 2)
    with pytest.raises(ConfigError, match="this generator was trained without --actions"):
        evaluate.rollout(plain, inputs, 2, actions=np.zeros((2, 2), int))
    with pytest.raises(DataError, match=r"actions are int64 \(2, 3\); expected int \(2, 2\)"):
        evaluate.rollout(acting, inputs, 2, actions=np.zeros((2, 3), int))
    with pytest.raises(DataError, match=r"indices outside 0..4"):
        evaluate.rollout(acting, inputs, 2, actions=np.full((2, 2), 5))


@pytest.fixture(scope="module")
def acted(tmp_path_factory):
    """ROOT/{Train,Test} with actions (conftest.write_actions), clips, and runs/act: a tiny
    action-conditioned run of 2 steps."""
    root = tmp_path_factory.mktemp("acted")
    write_video(root / "Train" / "a", 20, seed=1)
    write_video(root / "Test" / "c", 12, seed=3)
    write_video(root / "Test" / "d", 12, seed=4)
    write_actions(root, seed=5)
    clips_lib.process(root / "Train", root / "clips", 64, workers=1, progress=False)
    train_lib.train(ACTING, root / "clips", root / "runs" / "act", 2, adversarial=False,
                    frequencies=QUIET, progress=False)  # fmt: skip
    return root


def test_evaluate_rolls_an_action_model_out_under_the_test_actions(acted, runs, tmp_path, capsys):
    """The action model under the actions of actions.csv (read here with the csv module); the
    plain model and the baselines beside it score exactly as in an evaluation without it."""
    act, plain = acted / "runs" / "act", runs / "runs" / "plain"
    common = ["-t", str(acted / "Test"), "-r", str(RECURSIONS), "--runs_dir", str(tmp_path)]
    code = cli.main(["evaluate", "-l", str(act), str(plain), "--baselines", "-n", "both",
                     "--save_predictions", *common])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    code = cli.main(["evaluate", "-l", str(plain), "--baselines", "-n", "alone", *common])
    assert code == 0
    both = json.loads((tmp_path / "both" / "results" / "metrics.json").read_text())
    alone = json.loads((tmp_path / "alone" / "results" / "metrics.json").read_text())
    assert both["predictors"]["act"]["actions"] == list(ACTION_SET)
    assert "actions" not in both["predictors"]["plain"]
    for label in ("plain", "copy_last", "flow"):
        assert both["metrics"][label] == alone["metrics"][label]

    sequences, _ = pipeline.test_sequences(acted / "Test", 4, RECURSIONS)
    actions = []
    for video in ("c", "d"):
        with (acted / "Test" / video / "actions.csv").open(newline="") as file:
            rows = list(csv.DictReader(file))
        actions.append([ACTION_SET.index(row["action"]) for row in rows[4 : 4 + RECURSIONS]])
    generator = evaluate.load_generator(act)
    inputs = pipeline.stack_frames(pipeline.to_unit(sequences[:, :4]))
    direct = evaluate.rollout(generator, inputs, RECURSIONS, actions=np.array(actions))
    truths = pipeline.to_unit(sequences[:, 4:])
    for r in range(RECURSIONS):
        psnr = metrics.psnr(direct[:, r], truths[:, r])
        assert both["metrics"]["act"]["psnr"]["whole"]["values"][r] == pytest.approx(list(psnr))
    with np.load(tmp_path / "both" / "results" / "predictions.npz") as saved:
        assert set(saved.files) == {"truth", "sequence", "act", "plain", "copy_last", "flow"}
        np.testing.assert_array_equal(saved["act"], frames_lib.to_uint8(direct))
        assert saved["truth"].dtype == np.uint8 and saved["truth"].shape == direct.shape
        np.testing.assert_array_equal(saved["truth"], sequences[:, 4:])
        assert list(saved["sequence"]) == ["c", "d"]


def test_an_action_model_refuses_a_test_folder_without_actions_in_one_line(acted, runs, capsys):
    out = runs / "out"
    code = cli.main(["evaluate", "-l", str(acted / "runs" / "act"), "--baselines",
                     "-t", str(runs / "Test"), "-r", "2", "--runs_dir", str(out)])  # fmt: skip
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"avgkit evaluate: error: -t/--test_dir {runs / 'Test'}: ")
    assert "c has no actions.csv; a model trained with --actions" in lines[0]
    assert not out.exists()  # refused before anything was predicted or written
