"""The study command on a tiny plan: it trains, scores per episode, keeps G's weights, skips what
is done, refuses other settings, and pools paired intervals that match a direct computation."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from avgkit import cli, evaluate, models, pretrained, study, study_summary, train
from avgkit.data import atari
from avgkit.data import clips as clips_lib
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
    at_end = run["discriminator_at_end"]  # D of the last checkpoint on held-out crops
    assert set(at_end) == {"real", "generated", "mismatched"}
    assert all(len(at_end[kind]) == 4 and all(0 < v < 1 for v in at_end[kind]) for kind in at_end)
    assert "discriminator_at_end" not in json.loads(done[0].read_text())  # no D in l1_gdl
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


def test_a_run_folder_trained_on_other_clips_is_not_resumed_by_another_study(finished):
    root, common, _ = finished
    assert (common["work"] / "main-l1_gdl-s0" / study.CLIPS_MARK).read_text().strip() == str(
        (root / "data" / "clips").resolve()
    )
    shutil.copytree(root / "data", root / "other_data")  # the same frames in another folder
    with pytest.raises(ConfigError, match=r"main-l1_gdl-s0: a run of this name was trained "
                       r"there on .*/data/clips, not on .*other_data/clips; give this study "
                       r"its own --work"):  # fmt: skip
        study.run_study(root / "other_out", RUNS[:1], SETTINGS,
                        **{**common, "data": root / "other_data"})  # fmt: skip
    assert not (root / "other_out" / "runs").exists()


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
    seed_0 = summary["paired"]["adv_gdl - l1_gdl"]["per_seed"][0]["psnr"]["moving"]
    np.testing.assert_allclose(seed_0, differences.mean(axis=0), atol=1e-3)
    assert paired["n"] == n.tolist() and "adv - l2" not in summary["paired"]  # no l2 run
    assert summary["checks"]["best_non_adversarial"] == "main-l1_gdl-s0"
    assert set(summary["diagnostics_at_end"]) == {"main-adv_gdl-s0"}
    assert set(summary["discriminator_at_end"]) == {"main-adv_gdl-s0"}
    for figure in ("diagnostics.png", "rollout.png", "summary.md"):
        assert (root / "out" / figure).exists(), figure


def test_an_unknown_shipped_model_lists_the_names_there_are(capsys):
    with pytest.raises(ConfigError, match=r"pretrained:nope: no such shipped model; expected one"):
        evaluate.load_generator("pretrained:nope")
    code = cli.main(["evaluate", "-l", "pretrained:nope", "--baselines"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "pretrained:nope: no such shipped model" in lines[0]
    assert all(f"pretrained:{name}" in lines[0] for name in pretrained.names())


def test_a_run_whose_json_is_lost_is_scored_again_from_its_weights(finished, monkeypatch):
    root, common, _ = finished
    out = root / "recovered"
    shutil.copytree(root / "out", out)
    study_summary.summarize(out, root / "data" / "Test", SETTINGS)
    lost = out / "runs" / "main-adv_gdl-s0.json"
    original = json.loads(lost.read_text())
    lost.unlink()
    monkeypatch.setattr(study, "_train_and_score", lambda *a: pytest.fail("trained again"))
    study.run_study(out, RUNS, SETTINGS, **{**common, "work": root / "gone"})  # no run folder
    again = json.loads(lost.read_text())
    assert again["config"] == original["config"] and again["curves"] == {}
    assert again["machine"] == original["machine"] and "D's curves lost" in again["recovered"]
    assert again["diagnostics_at_end"]["d_real_0"] is not None  # kept from summary.json
    for metric in ("psnr", "crispness"):  # float16 weights: close to the float32 scores
        np.testing.assert_allclose(
            np.array(again["scores"][metric]["moving"], float),
            np.array(original["scores"][metric]["moving"], float),
            rtol=0.02,
        )


def test_a_variant_is_paired_with_the_main_recipes_twin_of_its_seed(finished):
    root, common, _ = finished
    out = root / "variant"
    shutil.copytree(root / "out", out)
    variant = study.Run("adv_gdl", 0, "no_extra")
    assert variant.config(SETTINGS).d_extra_examples is False
    study.run_study(out, [variant], SETTINGS, **common)
    summary = json.loads(study_summary.summarize(out, root / "data" / "Test", SETTINGS).read_text())
    runs = {name: json.loads((out / "runs" / f"{name}.json").read_text())
            for name in ("no_extra-adv_gdl-s0", "main-l1_gdl-s0")}  # fmt: skip
    differences = np.array(
        runs["no_extra-adv_gdl-s0"]["scores"]["psnr"]["whole"], float
    ) - np.array(runs["main-l1_gdl-s0"]["scores"]["psnr"]["whole"], float)
    paired = summary["paired"]["no_extra adv_gdl - l1_gdl"]["psnr"]["whole"]
    np.testing.assert_allclose(paired["mean"], differences.mean(axis=0), atol=1e-3)
    assert "## no_extra adv_gdl - l1_gdl, a variant" in (out / "summary.md").read_text()


def test_a_variant_training_only_adv_gdl_is_paired_with_its_named_twins_l1_gdl(
    finished, monkeypatch
):
    root, common, _ = finished
    out = root / "twinned"
    shutil.copytree(root / "out", out)
    monkeypatch.setitem(  # main's l1_gdl at another rate, so that the twins differ
        study.VARIANTS, "base", {"losses": ("l1_gdl",), "steps": 2, "g_learning_rate": 0.01}
    )
    monkeypatch.setitem(study.VARIANTS, "strong", {
        "losses": ("adv_gdl",), "steps": 2, "lam_adv": 0.05, "twin": "base",
    })  # fmt: skip
    runs = [study.Run("l1_gdl", 0, "base"), study.Run("adv_gdl", 0, "strong")]
    study.run_study(out, runs, SETTINGS, **common)
    summary = json.loads(study_summary.summarize(out, root / "data" / "Test", SETTINGS).read_text())
    strong, base, main = (
        np.array(json.loads((out / "runs" / f"{name}.json").read_text())["scores"]["psnr"]
                 ["moving"], float)
        for name in ("strong-adv_gdl-s0", "base-l1_gdl-s0", "main-l1_gdl-s0")
    )  # fmt: skip
    paired = summary["paired"]["strong adv_gdl - l1_gdl"]["psnr"]["moving"]
    np.testing.assert_allclose(paired["mean"], np.nanmean(strong - base, axis=0), atol=1e-3)
    assert not np.allclose(paired["mean"], np.nanmean(strong - main, axis=0), atol=1e-3)


def test_a_run_that_diverges_is_recorded_and_the_study_goes_on(finished, monkeypatch):
    root, common, _ = finished
    out = root / "diverged"
    shutil.copytree(root / "out", out)
    real_train = train.train

    def diverging(config, clips_dir, run_dir, steps, **kwargs):
        if config.loss == "adv":  # the real trainer's own stop, as on a loss that became inf
            raise train.TrainingDiverged("step 2: the generator loss is inf; training stopped")
        return real_train(config, clips_dir, run_dir, steps, **kwargs)

    monkeypatch.setattr(train, "train", diverging)
    study.run_study(out, [study.Run("adv", 0), study.Run("l2", 0)], SETTINGS, **common)
    record = json.loads((out / "runs" / "main-adv-s0.json").read_text())
    assert record["diverged"].startswith("step 2: the generator loss is inf")
    assert "scores" not in record and record["machine"]["cpu"]
    assert (out / "runs" / "main-l2-s0.json").exists()  # the next run of the plan trained
    summary = json.loads(study_summary.summarize(out, root / "data" / "Test", SETTINGS).read_text())
    assert "main-adv-s0" in summary["diverged"] and "main-adv-s0" not in summary["means"]
    assert "adv - l2" not in summary["paired"]
    assert "main-adv-s0: step 2: the generator loss is inf" in (out / "summary.md").read_text()


def test_the_sprites_kept_are_scored_per_episode_for_player_and_ghosts(finished):
    root, _, done = finished
    scores = json.loads(done[0].read_text())["scores"]
    palette, groups = study.sprite_groups(str(root / "data" / "Test"), SETTINGS)
    assert set(groups) == {"objects", "player", "ghosts"}
    player = palette.colours[palette.objects[groups["player"][0]]]
    assert player.tolist() == list(study.PLAYER_COLOUR)  # Ms. Pac-Man's yellow is found
    for metric in ("sprite_mass", "sprite_placed"):
        assert set(scores[metric]) == set(groups)
        assert np.array(scores[metric]["objects"], float).shape == (3, SETTINGS.recursions)
    placed = np.array(scores["sprite_placed"]["objects"], float)
    assert np.all((placed >= 0) & (placed <= 1))


def test_sprites_are_added_to_a_run_scored_before_them_from_its_weights(finished):
    root, _, _ = finished
    out = root / "sprites"
    shutil.copytree(root / "out", out)
    path = out / "runs" / "main-l1_gdl-s0.json"
    before = json.loads(path.read_text())
    older = {**before, "scores": {k: v for k, v in before["scores"].items() if "sprite" not in k}}
    path.write_text(json.dumps(older))
    test_dir = root / "data" / "Test"
    assert study.add_sprite_scores(out, test_dir, SETTINGS) == ["main-l1_gdl-s0"]
    after = json.loads(path.read_text())
    generator = models.build_generator(study.Run("l1_gdl", 0).config(SETTINGS))
    pretrained.load_weights(generator, out / "weights" / "main-l1_gdl-s0.npz")
    direct = study.episode_scores(
        study.rollout_predictor(generator, test_dir, SETTINGS), test_dir, SETTINGS
    )
    assert after["scores"]["sprite_mass"] == direct["sprite_mass"]  # from the kept weights
    assert after["scores"]["psnr"] == before["scores"]["psnr"]  # the rest untouched
    assert study.add_sprite_scores(out, test_dir, SETTINGS) == []  # done once


def test_a_from_variant_continues_the_finished_run_on_longer_clips(finished, monkeypatch):
    root, common, _ = finished
    out = root / "continued"
    shutil.copytree(root / "out", out)
    monkeypatch.setitem(study.VARIANTS, "first", {"losses": ("l1_gdl",), "steps": 2})
    monkeypatch.setitem(study.VARIANTS, "then", {
        "losses": ("l1_gdl",), "steps": 4, "curriculum": ((1, 2), (2, 2)), "from": "first",
    })  # fmt: skip
    later = study.Run("l1_gdl", 0, "then")
    with pytest.raises(
        ConfigError, match="then-l1_gdl-s0 continues first-l1_gdl-s0, which has not"
    ):
        study.run_study(out, [later], SETTINGS, **common)
    study.run_study(out, [study.Run("l1_gdl", 0, "first"), later], SETTINGS, **common)
    log = train.read_log(common["work"] / later.name / "results" / "train_log.csv")
    assert [row["step"] for row in log] == [3, 4]  # steps 1-2 were first's
    assert clips_lib.read_manifest(common["data"] / "clips-6")["clip_length"] == 6
    monkeypatch.setattr(study_summary, "VARIANT_PAIRS", (("then", "first"),))
    summary = json.loads(study_summary.summarize(out, root / "data" / "Test", SETTINGS).read_text())
    assert summary["paired"]["then l1_gdl - first l1_gdl"]["seeds"] == [0]


def test_an_init_variant_fine_tunes_kept_weights_with_the_players_actions(finished, monkeypatch):
    root, common, _ = finished
    out = root / "acting"
    shutil.copytree(root / "out", out)
    monkeypatch.setitem(study.VARIANTS, "acting", {
        "losses": ("l1_gdl", "adv_gdl"), "steps": 2, "init": "main-l1_gdl-s{seed}",
        "actions": study.MSPACMAN_ACTIONS,
    })  # fmt: skip
    runs = [study.Run("l1_gdl", 0, "acting"), study.Run("adv_gdl", 0, "acting")]
    study.run_study(out, runs, SETTINGS, **common)
    scored = json.loads((out / "runs" / "acting-l1_gdl-s0.json").read_text())
    assert scored["config"]["actions"] == list(study.MSPACMAN_ACTIONS)
    assert np.isfinite(scored["scores"]["psnr"]["whole"]).all()
    judged = json.loads((out / "runs" / "acting-adv_gdl-s0.json").read_text())
    at_end = judged["discriminator_at_end"]  # D judged the held-out crops with their actions
    assert all(0 < p < 1 for name in ("real", "generated", "mismatched") for p in at_end[name])
    with (
        np.load(out / "weights" / "main-l1_gdl-s0.npz") as a,
        np.load(out / "weights" / "acting-l1_gdl-s0.npz") as b,
    ):
        start, end = (
            [a[k].astype(float) for k in sorted(a)],
            [b[k].astype(float) for k in sorted(b)],
        )
    for before, after in zip(start, end):  # two Adam steps from the kept weights, no more
        if before.shape != after.shape:  # a first layer, widened: the action planes' weights
            assert np.abs(after[:, :, before.shape[2] :]).max() <= 2.2e-3
            after = after[:, :, : before.shape[2]]
        assert np.abs(after - before).max() <= 2.2e-3


def test_every_variant_makes_a_valid_config_whose_curriculum_fills_its_steps():
    settings = study.Settings()
    for variant, changes in study.VARIANTS.items():
        for loss in changes.get("losses", ("adv_gdl",)):
            run = study.Run(loss, 0, variant)
            config = run.config(settings)  # a Config checks its fields when made
            if config.curriculum:
                assert sum(n for _, n in config.curriculum) == run.steps(settings), run.name


def test_an_init_names_the_kept_weights_of_the_runs_own_seed():
    assert study.Run("l1_gdl", 1, "actions_events_study").init == "actions_rollout-l1_gdl-s1"
    assert study.Run("l1_gdl", 1, "no_actions_events_study").init == "no_actions_rollout-l1_gdl-s1"
    assert study.Run("l1_gdl", 1, "actions").init == "long-l1_gdl-s0"  # one start for every seed
    assert study.Run("l1_gdl", 1).init is None
