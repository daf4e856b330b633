"""Where runs and cached results live: `$AVGKIT_HOME`, by default `runs/` of this checkout.

Notebooks call `recording(...)`, `clips(...)` and `training_run(...)` to get the data and trained
models they need: made once, then found again under a key built from every parameter, so other
parameters never read stale results. Two processes asking for the same folder at once (two
notebooks, or a test run on two workers) take turns: the second waits, then finds it made.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
from pathlib import Path

from avgkit.config import Config
from avgkit.data import actions as actions_lib
from avgkit.data import atari
from avgkit.data import clips as clips_lib


def home() -> Path:
    """`$AVGKIT_HOME`, else `runs/` at the root of this checkout, else `./runs`."""
    if os.environ.get("AVGKIT_HOME"):
        return Path(os.environ["AVGKIT_HOME"])
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").exists():
        return checkout / "runs"
    return Path("runs")


def shown(path: str | Path) -> str:
    """`path` as `$AVGKIT_HOME/...` when it lies there: what a notebook prints, so that no
    committed output holds a machine's own folders."""
    try:
        return str(Path("$AVGKIT_HOME") / Path(path).resolve().relative_to(home().resolve()))
    except ValueError:
        return str(path)


def cache_dir(kind: str, label: str, params: dict) -> Path:
    """`home()/kind/<label>-<hash of params>`: one folder per distinct set of parameters."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()
    return home() / kind / f"{label}-{digest[:10]}"


@contextlib.contextmanager
def _one_maker(folder: Path):
    """Hold an exclusive lock on `folder`.lock (beside it) while making `folder`."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(folder.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        yield


def recording(recording: atari.Recording, progress: bool = True) -> Path:
    """A recorded frame folder for these settings, with the player's actions (recorded now if
    missing or unfinished). A folder recorded before actions were kept stays as it is, and this
    recording goes beside it."""
    params = dataclasses.asdict(recording)
    label = f"{recording.game.lower()}-{recording.train_episodes}x{recording.frames}"
    out = cache_dir("data", label, params)
    if _without_actions(out):
        out = cache_dir("data", label, {**params, "actions": True})
    with _one_maker(out):
        return atari.record(out, recording, progress=progress)


def _without_actions(folder: Path) -> bool:
    """Whether `folder` holds a recording started before `avgkit record` kept actions."""
    settings = folder / actions_lib.RECORDING
    return settings.exists() and "actions" not in json.loads(settings.read_text())


def clips(train_dir: str | Path, num_clips: int, seed: int = 0, progress: bool = True) -> Path:
    """A clips folder cut from `train_dir` with these settings (processed now if missing)."""
    train_dir = Path(train_dir).resolve()
    params = {"train_dir": str(train_dir), "num_clips": num_clips, "seed": seed}
    out = cache_dir("clips", f"{num_clips}", params)
    with _one_maker(out):
        if not clips_lib.is_finished(out):
            clips_lib.process(train_dir, out, num_clips, seed=seed, progress=progress)
    return out


def training_run(
    config: Config,
    clips_dir: str | Path,
    steps: int,
    adversarial: bool = True,
    seed: int = 0,
    frequencies=None,
    progress: bool = True,
) -> Path:
    """A run folder (checkpoints, summaries, images, results) trained with these settings for
    `steps` steps: trained now if missing, resumed if unfinished. frequencies:
    `avgkit.train.Frequencies` (default: `Frequencies.for_steps(steps)`)."""
    from avgkit import train  # TensorFlow loads only when a model is needed

    frequencies = frequencies or train.Frequencies.for_steps(steps)
    params = {
        "config": config.to_dict(),
        "clips_dir": str(Path(clips_dir).resolve()),
        "steps": steps,
        "adversarial": adversarial,
        "seed": seed,
        "frequencies": dataclasses.asdict(frequencies),
        # the clips its images show (`ShardBatches.fixed`); runs cached before 2026-12-04
        # showed the first four, and are not found again
        "fixed_batch": "most moving",
    }
    mode = "adversarial" if adversarial else "non-adversarial"
    run_dir = cache_dir("training", f"{config.name}-{mode}-{steps}", params)
    with _one_maker(run_dir):
        if train.saved_step(run_dir) < steps:
            train.train(
                config,
                clips_dir,
                run_dir,
                steps,
                adversarial=adversarial,
                seed=seed,
                frequencies=frequencies,
                progress=progress,
            )
    return run_dir
