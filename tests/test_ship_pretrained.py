"""tools/ship_pretrained.py (`make pretrained`) on a tiny finished study: the best run's float16
weights, its config and its provenance, chosen by PSNR or, for an action model, by where it puts
Ms. Pac-Man."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from avgkit import study, study_summary
from avgkit.data import atari

sys.path.insert(0, str(Path(__file__).parents[1] / "tools"))
import ship_pretrained  # noqa: E402

SETTINGS = study.Settings(
    preset="tiny", steps=2, num_clips=200, recursions=2, windows_per_episode=2,
    stats_freq=1, test_freq=2,
)  # fmt: skip
RECORDING = atari.Recording(train_episodes=2, test_episodes=2, frames=30, seed=5)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A study of two l1_gdl seeds; its output folder and its data folder."""
    root = tmp_path_factory.mktemp("ship")
    runs = [study.Run("l1_gdl", 0), study.Run("l1_gdl", 1)]
    study.run_study(root / "out", runs, SETTINGS, data=root / "data", work=root / "work",
                    recording=RECORDING, progress=False)  # fmt: skip
    study_summary.summarize(root / "out", root / "data" / "Test", SETTINGS)
    return root / "out", root / "data"


def test_the_best_run_ships_with_its_weights_config_and_provenance(finished, tmp_path, monkeypatch):
    out, data = finished
    sub = out / "sub"  # a study folder of its own under the study's, as player_events
    for part in ("runs", "weights"):
        shutil.copytree(out / part, sub / part, dirs_exist_ok=True)
    shutil.copyfile(out / "summary.json", sub / "summary.json")

    def worst(summary, name):  # must pick the other seed than PSNR does
        return -study_summary.psnr_1_to_8(summary, name)

    steps = ("python tools/cut.py data/elsewhere", "cp a b")
    monkeypatch.setattr(ship_pretrained, "SHIPPED", {
        "by_psnr": ship_pretrained.Shipped("", "l1_gdl", ("main",)),
        "by_other": ship_pretrained.Shipped("sub", "*", ("main",), worst, "data/elsewhere", steps),
    })  # fmt: skip
    assert ship_pretrained.main([str(out), str(tmp_path), "--data", str(data)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    names = ["main-l1_gdl-s0", "main-l1_gdl-s1"]
    best = max(names, key=lambda name: study_summary.psnr_1_to_8(summary, name))
    expected = {"by_psnr": (best, out), "by_other": (next(n for n in names if n != best), sub)}
    for shipped, (run, folder) in expected.items():
        provenance = json.loads((tmp_path / shipped / "provenance.json").read_text())
        assert provenance["study_run"] == run and provenance["study"] == folder.as_posix()
        with (
            np.load(tmp_path / shipped / "weights.npz") as a,
            np.load(folder / "weights" / f"{run}.npz") as b,
        ):
            assert sorted(a) == sorted(b) and all((a[k] == b[k]).all() for k in a)
        assert json.loads((tmp_path / shipped / "config.json").read_text())["loss"] == "l1_gdl"
    plain = json.loads((tmp_path / "by_psnr" / "provenance.json").read_text())
    assert plain["command"] == f"avgkit study --steps 2 --only {best}" and "prepare" not in plain
    assert provenance["command"].startswith(
        f"avgkit study --data data/elsewhere --out {sub.as_posix()} --work runs/sub --steps 2"
    )
    assert provenance["prepare"] == list(steps)


def test_a_missing_summary_in_a_models_folder_stops_in_one_line(finished, tmp_path, monkeypatch,
                                                                 capsys):  # fmt: skip
    out, data = finished
    monkeypatch.setattr(ship_pretrained, "SHIPPED", {
        "lost": ship_pretrained.Shipped("nowhere", "l1_gdl", ("main",)),
    })  # fmt: skip
    assert ship_pretrained.main([str(out), str(tmp_path), "--data", str(data)]) == 2
    assert (
        capsys.readouterr().err
        == f"make pretrained: {out / 'nowhere' / 'summary.json'} is missing\n"
    )


def test_her_placement_and_psnr_can_rank_two_runs_differently():
    means = {
        "sharp": {"psnr": {"whole": [30.0] * 8, "moving": [20.0] * 8},
                  "sprite_placed": {"player": [0.2] * 8}},
        "placing": {"psnr": {"whole": [29.0] * 8, "moving": [19.0] * 8},
                    "sprite_placed": {"player": [0.5] * 8}},
    }  # fmt: skip
    summary = {"means": means}
    runs = {name: {"loss": "l1_gdl", "variant": "main"} for name in means}
    assert study_summary.best_run(summary, runs, "l1_gdl") == "sharp"
    by_her = study_summary.player_placed_1_to_8
    assert study_summary.best_run(summary, runs, "*", by=by_her) == "placing"
    assert study_summary.best_run(summary, runs, "adv_gdl") is None
