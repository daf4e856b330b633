"""The study command on a tiny plan: it trains, scores per episode, keeps G's weights, skips what
is done, refuses other settings, and pools paired intervals that match a direct computation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from avgkit import cli, evaluate, pretrained, study, study_summary
from avgkit.data import atari
from avgkit.errors import ConfigError

SETTINGS = study.Settings(
    preset="tiny", steps=2, num_clips=200, recursions=2, windows_per_episode=2,
    stats_freq=1, test_freq=2,
)  # fmt: skip
RECORDING = atari.Recording(train_episodes=2, test_episodes=3, frames=30, seed=5)
RUNS = [study.Run("l1_gdl", 0), study.Run("adv_gdl", 0)]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    common = dict(data=root / "data", work=root / "work", recording=RECORDING, progress=False)
    done = study.run_study(root / "out", RUNS, SETTINGS, **common)
    return root, common, done


def test_a_study_trains_scores_and_keeps_the_weights(finished):
    root, _, done = finished
    assert [path.name for path in done] == ["main-l1_gdl-s0.json", "main-adv_gdl-s0.json"]
    run = json.loads(done[1].read_text())
    assert (run["loss"], run["seed"], run["steps"]) == ("adv_gdl", 0, 2)
    assert run["config"]["g_optimizer"] == "adam" and run["config"]["d_optimizer"] == "adam"
    assert run["scores"]["episodes"] == ["episode_0000", "episode_0001", "episode_0002"]
    psnr = np.array(run["scores"]["psnr"]["moving"], float)
    assert psnr.shape == (3, SETTINGS.recursions)  # episodes x horizons
    assert run["curves"]["step"] == [1, 2] and run["curves"]["d_heldout_0"][1] is not None
    assert run["machine"]["cpu"]
    for name in ("main-l1_gdl-s0", "main-adv_gdl-s0"):  # the shippable losses' weights
        weights = np.load(root / "out" / "weights" / f"{name}.npz")
        assert all(weights[key].dtype == np.float16 for key in weights.files)


def test_the_episode_scores_are_the_window_scores_averaged_per_episode(finished):
    root, _, _ = finished
    scores = study.episode_scores(evaluate.copy_last, root / "data" / "Test", SETTINGS)
    saved = study.baseline_scores(root / "out", root / "data" / "Test", SETTINGS)
    assert saved["copy_last"]["psnr"] == scores["psnr"]
    assert json.loads((root / "out" / "baselines.json").read_text()) == saved  # kept
    results = evaluate.evaluate(root / "direct", root / "data" / "Test", baselines=True,
                                recursions=2, per_video=2, progress=False)  # fmt: skip
    windows = results.values["copy_last"]["psnr", "whole"]  # (R, 6): two windows an episode
    expected = windows.reshape(2, 3, 2).mean(axis=2).T  # (episodes, R)
    np.testing.assert_allclose(np.array(scores["psnr"]["whole"], float), expected, atol=1e-4)


def test_a_finished_run_is_skipped_and_other_settings_are_refused(finished, monkeypatch):
    root, common, _ = finished
    monkeypatch.setattr(study, "_train_and_score", lambda *a: pytest.fail("trained again"))
    study.run_study(root / "out", RUNS, SETTINGS, **common)
    with pytest.raises(ConfigError, match=r"other settings \(settings.steps differ\)"):
        study.run_study(root / "out", RUNS, study.Settings(**{**vars(SETTINGS), "steps": 3}),
                        **common)  # fmt: skip


def test_the_command_refuses_a_resumed_study_of_other_settings_in_one_line(finished, capsys):
    root, _, _ = finished
    code = cli.main(["study", "--out", str(root / "out"), "--steps", "5"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "started with other settings" in lines[0]
    code = cli.main(["study", "--out", str(root / "out"), "--only", "main-l3-s0"])
    assert code == 2 and "--only main-l3-s0: not a run of the plan" in capsys.readouterr().err


def test_the_summary_pairs_runs_episode_by_episode(finished):
    root, _, _ = finished
    path = study_summary.summarize(root / "out", root / "data" / "Test", SETTINGS)
    summary = json.loads(path.read_text())
    runs = {name: json.loads((root / "out" / "runs" / f"{name}.json").read_text())
            for name in ("main-adv_gdl-s0", "main-l1_gdl-s0")}  # fmt: skip
    differences = np.array(runs["main-adv_gdl-s0"]["scores"]["psnr"]["moving"], float) - np.array(
        runs["main-l1_gdl-s0"]["scores"]["psnr"]["moving"], float
    )
    mean, low, high, n = evaluate.mean_ci(differences.T)
    paired = summary["paired"]["adv_gdl - l1_gdl"]["psnr"]["moving"]
    np.testing.assert_allclose(paired["mean"], mean, atol=1e-3)
    np.testing.assert_allclose(paired["ci_low"], low, atol=1e-3)
    assert paired["n"] == n.tolist() and "adv - l2" not in summary["paired"]  # no l2 run
    assert summary["checks"]["best_non_adversarial"] == "main-l1_gdl-s0"
    assert set(summary["diagnostics_at_end"]) == {"main-adv_gdl-s0"}
    for figure in ("diagnostics.png", "rollout.png", "summary.md"):
        assert (root / "out" / figure).exists(), figure


def test_an_unknown_shipped_model_lists_the_names_there_are(capsys):
    with pytest.raises(ConfigError, match=r"pretrained:nope: no such shipped model; expected one"):
        evaluate.load_generator("pretrained:nope")
    code = cli.main(["evaluate", "-l", "pretrained:nope", "--baselines"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "pretrained:nope: no such shipped model" in lines[0]
    assert all(f"pretrained:{name}" in lines[0] for name in pretrained.names())
