"""The study's committed results: a run JSON that does not parse and G weights that do not load
are named in one line, and scoring a run again from its weights never replaces a run's JSON."""

from __future__ import annotations

import json
import shutil

import pytest

from avgkit import cli, models, pretrained, study
from avgkit.data import atari
from avgkit.errors import DataError

SETTINGS = study.Settings(
    preset="tiny", steps=2, num_clips=200, recursions=2, windows_per_episode=2,
    stats_freq=1, test_freq=2,
)  # fmt: skip
RECORDING = atari.Recording(train_episodes=2, test_episodes=2, frames=30, seed=5)
RUN = study.Run("l1_gdl", 0)


@pytest.fixture(scope="module")
def recovered(tmp_path_factory):
    """A study whose only run was never trained here: its JSON is made from its kept weights
    (an untrained G's), ROOT/out/runs/main-l1_gdl-s0.json."""
    root = tmp_path_factory.mktemp("results")
    generator = models.build_generator(RUN.config(SETTINGS))
    pretrained.save_weights(generator, root / "out" / "weights" / f"{RUN.name}.npz")
    study.run_study(root / "out", [RUN], SETTINGS, **common(root))
    return root


def common(root) -> dict:
    return dict(data=root / "data", work=root / "work", recording=RECORDING, progress=False)


def copy_out(recovered, tmp_path):
    return shutil.copytree(recovered / "out", tmp_path / "out")


def test_a_run_json_that_does_not_parse_is_named_in_one_line_and_kept(recovered, tmp_path, capsys):
    out = copy_out(recovered, tmp_path)
    path = out / "runs" / f"{RUN.name}.json"
    damaged = path.read_bytes()[:100]
    path.write_bytes(damaged)
    with pytest.raises(DataError, match=rf"{RUN.name}\.json: not valid JSON"):
        study.run_study(out, [RUN], SETTINGS, **common(recovered))
    assert path.read_bytes() == damaged  # neither scored again nor trained over
    code = cli.main(["study", "--out", str(out), "--data", str(recovered / "data"), "--summarize"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert f"{path}: not valid JSON (" in lines[0] and "restore it from git" in lines[0]


def test_weights_that_do_not_load_are_named(recovered, tmp_path):
    out = copy_out(recovered, tmp_path)
    (out / "runs" / f"{RUN.name}.json").unlink()
    weights = out / "weights" / f"{RUN.name}.npz"
    weights.write_bytes(weights.read_bytes()[:2000])
    with pytest.raises(DataError, match=rf"{RUN.name}\.npz: not readable G weights"):
        study.run_study(out, [RUN], SETTINGS, **common(recovered))
    assert not (out / "runs" / f"{RUN.name}.json").exists()


def test_scoring_again_keeps_a_json_that_appeared_meanwhile(recovered, tmp_path, monkeypatch):
    """Another session writes the run's own JSON while this one scores the weights again."""
    out = copy_out(recovered, tmp_path)
    path = out / "runs" / f"{RUN.name}.json"
    own = {**json.loads(path.read_text()), "curves": {"step": [1, 2]}}
    own.pop("recovered")
    path.unlink()
    scores = study.episode_scores

    def meanwhile(*args, **kwargs):
        path.write_text(json.dumps(own))
        return scores(*args, **kwargs)

    monkeypatch.setattr(study, "episode_scores", meanwhile)
    study.run_study(out, [RUN], SETTINGS, **common(recovered))
    assert json.loads(path.read_text()) == own
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
