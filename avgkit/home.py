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
import shutil
from pathlib import Path

from avgkit.config import Config
from avgkit.data import actions as actions_lib
from avgkit.data import atari
from avgkit.data import clips as clips_lib
from avgkit.errors import ConfigError


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
    start: str | Path | None = None,
) -> Path:
    """A run folder (checkpoints, summaries, images, results) trained with these settings for
    `steps` steps: trained now if missing, resumed if unfinished. frequencies:
    `avgkit.train.Frequencies` (default: `Frequencies.for_steps(steps)`). start: another run
    folder whose latest checkpoint (models, optimizers and step) this run starts from; its log
    and fixed-batch images are copied in, so that the run shows its whole history."""
    from avgkit import checkpoints, train  # TensorFlow loads only when a model is needed

    frequencies = frequencies or train.Frequencies.for_steps(steps)
    begun = 0 if start is None else train.saved_step(start)
    if begun >= steps:
        raise ConfigError(f"{start}: at step {begun}, not before the {steps} steps asked for")
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
    if start is not None:
        params["start"] = f"{Path(start).resolve()}@{begun}"
    mode = "adversarial" if adversarial else "non-adversarial"
    run_dir = cache_dir("training", f"{config.name}-{mode}-{steps}", params)
    with _one_maker(run_dir):
        # a run with no readable checkpoint of its own begins (again) at `start`
        fresh = start is not None and not checkpoints.latest_readable(run_dir / "checkpoints")
        if fresh:
            _carry_history(Path(start), run_dir)
        if train.saved_step(run_dir) < steps:
            train.train(
                config,
                clips_dir,
                run_dir,
                steps,
                adversarial=adversarial,
                seed=seed,
                load_path=start if fresh else None,
                frequencies=frequencies,
                progress=progress,
            )
    return run_dir


def _carry_history(start: Path, run_dir: Path) -> None:
    """Copy the log and the fixed-batch images of the run `start` into `run_dir`."""
    for part in ("results/train_log.csv", "images/train"):
        source, target = start / part, run_dir / part
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        elif source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def lesson_runs(
    config: Config,
    clips_dir: str | Path,
    g_alone_steps: int,
    non_adversarial_steps: int,
    adversarial_steps: int,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Path]:
    """Notebook 05's two runs on the same clips: G alone (no D) for `g_alone_steps`, then
    from that checkpoint on without D to `non_adversarial_steps` in all and with D to
    `adversarial_steps` (with 0, both start from scratch, as the paper's). Each logs about 20
    times over the steps it trains, and saves the fixed batch's images about ten times over
    the longer run, at round steps. Returns {"non-adversarial": run folder, "adversarial":
    run folder}."""
    from avgkit import train

    if not 0 <= g_alone_steps < min(non_adversarial_steps, adversarial_steps):
        raise ConfigError(
            f"g_alone_steps {g_alone_steps}: expected fewer than both runs' steps "
            f"({non_adversarial_steps}, {adversarial_steps})"
        )
    tenth = max(1, max(non_adversarial_steps, adversarial_steps) // 10)
    magnitude = 10 ** (len(str(tenth)) - 1)
    every = tenth // magnitude * magnitude  # its first digit: 1,000 steps -> every 100

    def run(steps: int, adversarial: bool, start: Path | None) -> Path:
        trained = steps - (g_alone_steps if start else 0)
        frequencies = dataclasses.replace(train.Frequencies.for_steps(trained), images=every)
        return training_run(
            config, clips_dir, steps, adversarial, seed, frequencies, progress, start
        )

    start = run(g_alone_steps, False, None) if g_alone_steps else None
    return {
        "non-adversarial": run(non_adversarial_steps, False, start),
        "adversarial": run(adversarial_steps, True, start),
    }
