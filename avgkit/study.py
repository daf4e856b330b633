"""The study: does the adversarial term help on Ms. Pac-Man? (`avgkit study`, `make study`)

One command records the data, cuts its clips, trains every run of the plan and scores it on the
test episodes, skipping what is done: a finished run's scores are a small JSON in
`<out>/runs/<name>.json`, and the generators that may be shipped are float16 weights in
`<out>/weights/<name>.npz` (`out` is committed; the run folders under `runs/study/` are not).
A run stopped midway resumes from its checkpoints. `summarize` then pools the runs into
`<out>/summary.json`: per run and baseline the per-horizon means over test episodes, the paired
tables (adv_gdl - l1_gdl, adv - l2, each model - each baseline) with 95% intervals over test
episodes x seeds, and D's diagnostic curves.

Scores are per test episode: the windows of an episode are averaged first (NaN-aware), so the
intervals take episodes, not overlapping windows, as the unit.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from avgkit import config as config_lib
from avgkit import files, pretrained
from avgkit import machine as machine_lib
from avgkit.data import atari
from avgkit.errors import ConfigError

LOSSES = ("l2", "l1_gdl", "adv", "adv_gdl")  # the paper's rows; adv = l2 + adversarial
PAIRS = (("adv_gdl", "l1_gdl"), ("adv", "l2"))  # adversarial minus its non-adversarial twin
SHIPPABLE = ("l1_gdl", "adv_gdl")  # losses whose generator weights are kept


# The study's recipe: the official preset (networks, mean losses, lam_adv 0.01, D by SGD at
# 0.02, advExt = 'full') with one change, G's optimizer. Measured on this study's data (official
# preset, l1_gdl, 1,500 steps, AVX-512 CPU, 2026-12-01), G by SGD at 0.02 reached 22.6 dB
# whole-frame PSNR at t+1 against 26.5 dB with Adam at 1e-3, and 14.6 against 17.6 dB on the
# moving areas: the official SGD rate suits its million steps, not a CPU's ten thousand. G's
# rate falls linearly to 1/8 of its start over the run, the paper's ratio (0.04 to 0.005).
def recipe(steps: int) -> dict:
    return {
        "g_optimizer": "adam",
        "g_learning_rate": 1e-3,
        "g_decay_steps": steps,
        "g_decay_to": 0.125,
    }


# Variants of the recipe, applied to adv_gdl, as D's diagnostics suggest them
VARIANTS = {
    "main": {},
    "official_sgd": {"g_optimizer": "sgd", "g_learning_rate": 0.02, "g_decay_steps": 0},
    "adv_low": {"lam_adv": 0.002},
    "adv_high": {"lam_adv": 0.05},
    "no_extra": {"d_extra_examples": False},
    "d_adam": {"d_optimizer": "adam", "d_learning_rate": 1e-4},
}
# 64 train + 16 test episodes: a random policy meets game over after about 300-800 recorded
# frames at frameskip 4, so episodes are many rather than long (--frames is only a cap)
RECORDING = atari.Recording(train_episodes=64, test_episodes=16, frames=2000, seed=1)
CURVE_POINTS = 200  # rows of D's diagnostics kept per run


@dataclasses.dataclass(frozen=True)
class Settings:
    """What a study is; saved as `<out>/study.json`, and a resumed study must match it."""

    preset: str = "official"
    steps: int = 10_000
    num_clips: int = 1_000_000
    recursions: int = 16
    windows_per_episode: int = 8
    stats_freq: int = 50
    test_freq: int = 1000


@dataclasses.dataclass(frozen=True)
class Run:
    """One training run of the plan: a loss of LOSSES, a seed, a variant of VARIANTS."""

    loss: str
    seed: int
    variant: str = "main"

    @property
    def name(self) -> str:
        return f"{self.variant}-{self.loss}-s{self.seed}"

    @property
    def adversarial(self) -> bool:
        return config_lib.LOSSES[self.loss].adversarial

    def identity(self, settings: Settings) -> dict:
        """What a run's JSON opens with: its name, loss, seed, variant, config and steps."""
        return {
            "name": self.name,
            **dataclasses.asdict(self),
            "config": self.config(settings).to_dict(),
            "steps": settings.steps,
        }

    def config(self, settings: Settings) -> config_lib.Config:
        base = config_lib.with_loss(config_lib.preset(settings.preset), self.loss)
        return dataclasses.replace(base, **{**recipe(settings.steps), **VARIANTS[self.variant]})


def plan(seeds=(0, 1, 2), variants=()) -> list[Run]:
    """The runs: the pairs first, seed by seed (a partial study is already paired), then the
    variants on adv_gdl with the first seed."""
    runs = [Run(loss, seed) for seed in seeds for loss in ("l1_gdl", "adv_gdl", "l2", "adv")]
    for variant in variants:
        if variant not in VARIANTS:
            raise ConfigError(f"--variants {variant}: expected some of {list(VARIANTS)}")
        runs.append(Run("adv_gdl", seeds[0], variant))
    return runs


def run_study(
    out: str | Path,
    runs: list[Run],
    settings: Settings = Settings(),
    data: str | Path = "data/mspacman-study",
    work: str | Path = "runs/study",
    recording: atari.Recording = RECORDING,
    progress: bool = True,
) -> list[Path]:
    """Record and cut the data if missing, then train and score each run not yet done.
    Returns the JSON of every run of `runs`: scored, scored again from its kept weights
    (`recovered`), or stopped because it diverged (`diverged`)."""
    out, data, work = Path(out), Path(data), Path(work)
    _claim(out, settings, recording)
    atari.record(data, recording, progress=progress)
    clips_dir = _clips(data / "Train", data / "clips", settings, progress)
    done = []
    for run in runs:
        path = out / "runs" / f"{run.name}.json"
        weights_only = not (work / run.name / "checkpoints").is_dir()  # its run folder is gone
        if not path.exists() and weights_only and (out / "weights" / f"{run.name}.npz").exists():
            _score_from_weights(run, settings, data / "Test", out, progress)
        elif not path.exists():  # trains, or resumes from its checkpoints
            _train_and_score(run, settings, clips_dir, data / "Test", out, work, progress)
        done.append(path)
    return done


def _train_and_score(run: Run, settings, clips_dir, test_dir, out, work, progress) -> None:
    from avgkit import train

    say = tqdm.write if progress else _quiet
    config = run.config(settings)
    run_dir = work / run.name
    frequencies = train.Frequencies(
        stats=settings.stats_freq,
        summary=settings.stats_freq * 4,
        images=settings.test_freq * 5,
        test=settings.test_freq,
        save=settings.test_freq,
    )
    say(f"study: {run.name} ({settings.steps} steps)")
    started = time.perf_counter()
    record = run.identity(settings)
    try:
        train.train(
            config,
            clips_dir,
            run_dir,
            settings.steps,
            adversarial=run.adversarial,
            seed=run.seed,
            test_dir=test_dir,
            recursions=1,
            frequencies=frequencies,
            progress=progress,
        )
    except train.TrainingDiverged as error:  # a result too: recorded, and the study goes on
        say(f"study: {run.name} diverged ({error}); recorded in {out / 'runs'}")
        record["diverged"] = str(error)
    seconds = time.perf_counter() - started
    log_path = run_dir / "results" / "train_log.csv"
    log = train.read_log(log_path) if log_path.exists() else []  # none if it diverged at once
    if "diverged" not in record:
        generator = _generator(run_dir, config)
        record["scores"] = episode_scores(
            rollout_predictor(generator), test_dir, settings, progress
        )
        if run.loss in SHIPPABLE:
            pretrained.save_weights(generator, out / "weights" / f"{run.name}.npz")
        if run.adversarial:
            record["discriminator_at_end"] = discriminator_at_end(
                run_dir, config, test_dir, run.seed
            )
    files.write_json(
        out / "runs" / f"{run.name}.json",
        {
            **record,
            "train_seconds_this_session": round(seconds, 1),
            "machine": machine(),
            "date": datetime.date.today().isoformat(),
            "curves": _curves(log),
        },
        indent=1,
    )


def _score_from_weights(run: Run, settings, test_dir, out, progress) -> None:
    """A finished run whose JSON is missing but whose G weights are kept: score it again from
    the weights instead of training it again. (The study's first sessions lost their run JSONs
    to a `.gitignore` rule that matched `docs/study/runs/`.) What only training knew (the time,
    the CPU, D's diagnostics at the end) comes from `<out>/summary.json` when it lists the run,
    else stays empty; D's curves are lost. `recovered` says so in the JSON."""
    from avgkit import models

    say = tqdm.write if progress else _quiet
    say(f"study: {run.name} scored again from {out / 'weights' / f'{run.name}.npz'}")
    config = run.config(settings)
    generator = models.build_generator(config)
    pretrained.load_weights(generator, out / "weights" / f"{run.name}.npz")
    earlier = (
        json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    )
    about = earlier.get("runs", {}).get(run.name, {})
    files.write_json(
        out / "runs" / f"{run.name}.json",
        {
            **run.identity(settings),
            "train_seconds_this_session": about.get("train_seconds_this_session"),
            "machine": about.get("machine"),
            "date": about.get("date"),
            "recovered": "scores from the float16 weights; "
            + ("time, CPU and date from summary.json" if about else "time, CPU and date lost")
            + "; D's curves lost",
            "scores": episode_scores(rollout_predictor(generator), test_dir, settings, progress),
            "curves": {},
            "diagnostics_at_end": earlier.get("diagnostics_at_end", {}).get(run.name, {}),
            "discriminator_at_end": earlier.get("discriminator_at_end", {}).get(run.name, {}),
        },
        indent=1,
    )


def discriminator_at_end(run_dir: Path, config, test_dir, seed: int, count: int = 256) -> dict:
    """D of the run's last checkpoint on `count` training-like crops cut from the test videos:
    its mean sigmoid per scale on real, generated and mismatched frames (`Trainer.d_scores`)."""
    from avgkit import checkpoints, train

    trainer = train.Trainer(config, adversarial=True, seed=seed)
    train.restore(trainer, checkpoints.resolve_checkpoint(run_dir, config))
    clips = train.heldout_clips(test_dir, config, seed, count)
    return {name: _rounded(values) for name, values in trainer.d_scores(clips).items()}


def episode_scores(predict, test_dir, settings: Settings, progress: bool = False) -> dict:
    """Scores of `predict` (inputs, recursions) -> predictions on the test windows, averaged per
    episode: {"episodes": names, metric: {region: float (episodes, R) as lists}}."""
    from avgkit import evaluate

    sequences, names, inputs, masks = evaluation_windows(str(test_dir), settings)
    truths = sequences[:, config_lib.HIST_LEN :]
    values = evaluate.score(predict(inputs, settings.recursions), truths, masks, progress)
    episodes = sorted(set(names))
    rows = {e: [i for i, name in enumerate(names) if name == e] for e in episodes}
    scores = {"episodes": episodes}
    for (metric, region), table in values.items():  # table (R, N)
        with np.errstate(all="ignore"):
            per_episode = np.stack([np.nanmean(table[:, rows[e]], axis=1) for e in episodes])
        scores.setdefault(metric, {})[region] = _rounded(per_episode)
    return scores


_WINDOWS: dict = {}


def evaluation_windows(test_dir: str, settings: Settings):
    """The test windows (uint8 sequences, episode names, model inputs, moving-area masks),
    computed once per process."""
    from avgkit import evaluate
    from avgkit.data import pipeline

    key = (test_dir, settings.recursions, settings.windows_per_episode)
    if key not in _WINDOWS:
        hist_len = config_lib.HIST_LEN
        sequences, names = pipeline.test_sequences(
            test_dir, hist_len, settings.recursions, settings.windows_per_episode
        )
        inputs = pipeline.stack_frames(pipeline.to_unit(sequences[:, :hist_len]))
        _WINDOWS[key] = (sequences, names, inputs, evaluate.motion_masks(sequences, hist_len))
    return _WINDOWS[key]


def baseline_scores(out, test_dir, settings: Settings, progress: bool = False) -> dict:
    """Scores of the baselines (copy_last, flow), computed once into `<out>/baselines.json`."""
    from avgkit import evaluate

    path = Path(out) / "baselines.json"
    if path.exists():
        return json.loads(path.read_text())
    found = {
        name: episode_scores(predict, test_dir, settings, progress)
        for name, predict in evaluate.BASELINES.items()
    }
    files.write_json(path, found, indent=1)
    return found


def machine() -> dict:
    """The CPU: model name and whether it has AVX-512 and AVX512-BF16."""
    found = machine_lib.cpu()
    return {
        "cpu": found["processor"],
        "avx512f": "avx512f" in found["cpu_flags"],
        "avx512_bf16": "avx512_bf16" in found["cpu_flags"],
    }


def _generator(run_dir: Path, config):
    from avgkit import checkpoints, models

    generator = models.build_generator(config)
    checkpoints.restore_generator(generator, checkpoints.resolve_checkpoint(run_dir, config))
    return generator


def rollout_predictor(generator):
    from avgkit import evaluate

    return lambda inputs, recursions: evaluate.rollout(generator, inputs, recursions)


def _clips(train_dir: Path, clips_dir: Path, settings: Settings, progress: bool) -> Path:
    from avgkit.data import clips

    manifest = clips_dir / clips.MANIFEST
    if not (manifest.exists() and json.loads(manifest.read_text()).get("complete")):
        clips.process(train_dir, clips_dir, settings.num_clips, seed=0, progress=progress)
    return clips_dir


def _claim(out: Path, settings: Settings, recording: atari.Recording) -> None:
    """Write `<out>/study.json`, or check that the study there has the same settings."""
    path = out / "study.json"
    wanted = {
        "settings": dataclasses.asdict(settings),
        "recording": {**dataclasses.asdict(recording), "hold": list(recording.hold)},
    }
    if path.exists():
        found = json.loads(path.read_text())
        if found != wanted:
            changed = [
                f"{part}.{key}"
                for part in wanted
                for key in wanted[part]
                if found.get(part, {}).get(key) != wanted[part][key]
            ]
            raise ConfigError(
                f"{path}: the study there was started with other settings ({', '.join(changed)} "
                "differ); resume it with its own settings or choose another --out"
            )
        return
    files.write_json(path, wanted, indent=2)


def _curves(log: list[dict]) -> dict:
    """The stats log's columns, at most CURVE_POINTS evenly spaced rows (every d_heldout row)."""
    if not log:
        return {}
    every = max(1, len(log) // CURVE_POINTS)
    kept = [
        row
        for i, row in enumerate(log)
        if i % every == 0 or not np.isnan(row.get("d_heldout_0", np.nan))
    ]
    return {key: _rounded([row[key] for row in kept]) for key in kept[0]}


def _rounded(values, digits: int = 4) -> list:
    array = np.round(np.asarray(values, np.float64), digits)
    return np.where(np.isnan(array), None, array.astype(object)).tolist()


def _quiet(*args, **kwargs) -> None:
    pass
