"""The study: does the adversarial term help on Ms. Pac-Man? (`avgkit study`, `make study`)

One command records the data, cuts its clips, trains every run of the plan and scores it on the
test episodes, skipping what is done: a finished run's scores are a small JSON in
`<out>/runs/<name>.json`, and its generator float16 weights in `<out>/weights/<name>.npz`
(`out` is committed; the run folders under `runs/study/` are not).
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
SHIPPABLE = ("l1_gdl", "adv_gdl")  # losses whose generators may be shipped
# Ms. Pac-Man's yellow, a fact of the game: of the object colours found in the test frames
# (`metrics.find_palette`), the nearest to it is the player's and the others the ghosts'
PLAYER_COLOUR = (210, 164, 74)
SPRITE_METRIC = "sprite_mass"  # in a run's scores when the sprites kept were measured


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


# Variants of the recipe: config fields to change, and keys that are not config fields:
# "losses" (those it runs; default adv_gdl), "steps" (default the study's), "precision"
# ("mixed": Keras' mixed_bfloat16 where the CPU has bfloat16, see avgkit.train.Trainer),
# "from" (a variant whose finished run of the same loss and seed this one continues) and
# "init" (the kept G weights, `<out>/weights/<init>.npz`, that a new run starts from; "{seed}"
# in it stands for the run's seed).
D_ADAM = {"d_optimizer": "adam", "d_learning_rate": 1e-4}  # a D that sees G's frames (study)
# ALE's action set of Ms. Pac-Man, as `avgkit record` lists it in recording.json
MSPACMAN_ACTIONS = (
    "NOOP",
    "UP",
    "RIGHT",
    "LEFT",
    "DOWN",
    "UPRIGHT",
    "UPLEFT",
    "DOWNRIGHT",
    "DOWNLEFT",
)
FINE_TUNE = {
    **D_ADAM,
    "losses": ("l1_gdl", "adv_gdl"),
    "steps": 4_000,
    "init": "long-l1_gdl-s0",
    "g_learning_rate": 1.25e-4,
    "g_decay_steps": 0,
}
FINE_TUNE_FAST = {**FINE_TUNE, "g_learning_rate": 1e-3, "g_decay_steps": 4_000}
ROLLOUT_STEPS = 2_000  # of 3-frame rollouts: see actions_rollout
ROLLOUT_FINE_TUNE = {
    **FINE_TUNE_FAST,
    "steps": ROLLOUT_STEPS,
    "g_decay_steps": ROLLOUT_STEPS,
    "curriculum": ((3, ROLLOUT_STEPS),),
}
MIX_STEPS = 5_000  # 3-frame rollouts, then as many 5-frame ones: see actions_mix
MIX_FINE_TUNE = {
    **FINE_TUNE_FAST,
    "steps": MIX_STEPS,
    "g_decay_steps": MIX_STEPS,
    "curriculum": ((3, MIX_STEPS // 2), (5, MIX_STEPS // 2)),
}
VARIANTS = {
    "main": {},
    "official_sgd": {"g_optimizer": "sgd", "g_learning_rate": 0.02, "g_decay_steps": 0},
    "adv_low": {"lam_adv": 0.002},
    "adv_high": {"lam_adv": 0.05},
    "no_extra": {"d_extra_examples": False},
    "d_adam": D_ADAM,
    # the main recipe in mixed bfloat16: does it score within the seed spread of float32?
    "bf16": {"losses": ("l1_gdl", "adv_gdl"), "precision": "mixed"},
    # ten times the budget, in bfloat16, with the D that sees G's frames
    "long": {**D_ADAM, "losses": ("l1_gdl", "adv_gdl"), "precision": "mixed", "steps": 100_000},
    # long in float32, for CPUs without bfloat16 (where "mixed" is refused), with its own
    # l1 + GDL twin: at 10,000 steps bf16 moved her placement at t+4 by -0.07 (adv + GDL) and
    # +0.12 (l1 + GDL) against float32, as much as the adversarial term, so long's bf16 run
    # is no twin for a float32 one
    "long_float32": {**D_ADAM, "losses": ("l1_gdl", "adv_gdl"), "steps": 100_000},
    # long_float32's adv + GDL with D held back: at each scale D's gradient on G's prediction at
    # most the Lp + GDL one (the share G's update takes at most 1/2). In long_float32 D won at
    # full size from about 12,000 steps and took 0.97 of G's gradient there by 40,000, and G
    # kept less of Ms. Pac-Man than the l1 + GDL run (docs/study.md); twin: its l1 + GDL
    "long_capped": {
        **D_ADAM,
        "losses": ("adv_gdl",),
        "steps": 100_000,
        "adv_gradient_cap": 1.0,
        "twin": "long_float32",
    },
    # long_capped in mixed bfloat16, paired with the `long` l1 + GDL run (committed), for CPUs
    # with bfloat16: the adversarial twin of the model the study ships
    "long_capped_mixed": {
        **D_ADAM,
        "losses": ("adv_gdl",),
        "precision": "mixed",
        "steps": 100_000,
        "adv_gradient_cap": 1.0,
        "twin": "long",
    },
    # the long run continued on its own rollouts, as Oh et al.'s phases (each from the last):
    # 10,000 steps of 3 frames, then 10,000 of 5, at the long run's final G rate (1/8 of the
    # start: Oh et al. also lowered the rate tenfold for their k-step phases)
    "rollout": {
        **D_ADAM,
        "losses": ("l1_gdl", "adv_gdl"),
        "precision": "mixed",
        "steps": 120_000,
        "curriculum": ((1, 100_000), (3, 10_000), (5, 10_000)),
        "from": "long",
    },
    # the long l1 + GDL run fine-tuned with and without the player's actions, on one budget:
    # G starts from its kept weights (the action planes' weights at zero), D afresh, G's rate
    # held at the long run's last (1/8 of 1e-3)
    "actions": {**FINE_TUNE, "actions": MSPACMAN_ACTIONS},
    "no_actions": FINE_TUNE,
    # the same at the recipe's rate, 1e-3 falling to 1/8 over the 4,000 steps: at 1.25e-4 the
    # action planes' weights grew to 2% of the frames' (rms), and the actions moved G little
    "actions_fast": {**FINE_TUNE_FAST, "actions": MSPACMAN_ACTIONS},
    "no_actions_fast": FINE_TUNE_FAST,
    # the same pair trained on G's own 3-frame rollouts (Oh et al.'s k-step objective), the
    # actions fed at each frame: one step ahead her history mostly tells where she goes next,
    # over three frames the held action does more of it. Half the steps: a 3-frame step costs
    # about 4 one-step steps (0.9 s against 0.24 s on 2 AVX2 cores), so 2,000 of them are
    # twice the one-step pair's compute
    "actions_rollout": {**ROLLOUT_FINE_TUNE, "actions": MSPACMAN_ACTIONS},
    "no_actions_rollout": ROLLOUT_FINE_TUNE,
    # the rollout pair on 9-frame clips of which a quarter are moved to her turns and reversals,
    # the rest cut by the movement rule, every event clip placed on her (`tools/player_crops.py
    # --clip_length 9 --events 0.25 --on_her 0`; with the rule's own, 40% hold an event): on
    # event clips alone (--events 0.5) the actions placed her far better at t+4 and t+8 and lost
    # the ghosts, which the movement rule's clips hold. 2,500 steps of 3 frames, then 2,500 of
    # 5, so that the rollouts trained reach further towards t+8
    "actions_mix": {**MIX_FINE_TUNE, "actions": MSPACMAN_ACTIONS},
    "no_actions_mix": MIX_FINE_TUNE,
    # the rollout pair trained on event clips (docs/study/player_events), each seed continued
    # from its own weights one-step on the study's clips at the long run's final rate: the event
    # clips taught G the joystick and cost the ghosts, which the study's clips hold
    "actions_events_study": {
        **FINE_TUNE,
        "steps": 2_000,
        "init": "actions_rollout-l1_gdl-s{seed}",
        "actions": MSPACMAN_ACTIONS,
    },
    "no_actions_events_study": {
        **FINE_TUNE,
        "steps": 2_000,
        "init": "no_actions_rollout-l1_gdl-s{seed}",
    },
    # the actions as gates on G's hidden maps rather than input planes, which act where a map
    # fires (on her) rather than as one bias over the whole crop; twin: no_actions_rollout
    "gates_rollout": {**ROLLOUT_FINE_TUNE, "actions": MSPACMAN_ACTIONS, "action_gates": True},
    # adv + GDL on rollouts with a D that counts: D by Adam at 1e-3 (ten times D_ADAM's rate;
    # at 1e-4 it ended at chance) weighing five times more (lambda_adv 0.05, adv_high's); its
    # l1 + GDL twin, which has no D, is no_actions_rollout's
    "strong_d_rollout": {
        **ROLLOUT_FINE_TUNE,
        "losses": ("adv_gdl",),
        "d_learning_rate": 1e-3,
        "lam_adv": 0.05,
        "twin": "no_actions_rollout",
    },
}
TRAINING_KEYS = ("losses", "steps", "precision", "from", "init", "twin")  # not config keys
# 64 train + 16 test episodes: a random policy meets game over after about 300-800 recorded
# frames at frameskip 4, so episodes are many rather than long (--frames is only a cap)
RECORDING = atari.Recording(train_episodes=64, test_episodes=16, frames=2000, seed=1)
CURVE_POINTS = 200  # rows of D's diagnostics kept per run
CLIPS_MARK = "study_clips.txt"  # in a run folder: the clips it was trained on


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
    def init(self) -> str | None:
        """The kept G weights this run starts from (a name in `<out>/weights/`), or None."""
        init = VARIANTS[self.variant].get("init")
        return init.format(seed=self.seed) if init else None

    @property
    def adversarial(self) -> bool:
        return config_lib.LOSSES[self.loss].adversarial

    def identity(self, settings: Settings) -> dict:
        """What a run's JSON opens with: its name, loss, seed, variant, config, steps and
        precision."""
        return {
            "name": self.name,
            **dataclasses.asdict(self),
            "config": self.config(settings).to_dict(),
            "steps": self.steps(settings),
            "precision": self.precision,
        }

    def steps(self, settings: Settings) -> int:
        return VARIANTS[self.variant].get("steps", settings.steps)

    @property
    def precision(self) -> str:
        return VARIANTS[self.variant].get("precision", "float32")

    def config(self, settings: Settings) -> config_lib.Config:
        """The recipe over the run's steps (over those of the run it continues, for a "from"
        variant: G's rate goes on falling as it did there, then stays at its end), with the
        variant's changes."""
        base = config_lib.with_loss(config_lib.preset(settings.preset), self.loss)
        variant = VARIANTS[self.variant]
        changes = {k: v for k, v in variant.items() if k not in TRAINING_KEYS}
        schedule = Run(self.loss, self.seed, variant["from"]) if "from" in variant else self
        return dataclasses.replace(base, **{**recipe(schedule.steps(settings)), **changes})


def plan(seeds=(0, 1, 2), variants=()) -> list[Run]:
    """The runs: the pairs first, seed by seed (a partial study is already paired), then each
    variant with the first seed, on its losses (default adv_gdl)."""
    runs = [Run(loss, seed) for seed in seeds for loss in ("l1_gdl", "adv_gdl", "l2", "adv")]
    for variant in variants:
        if variant not in VARIANTS:
            raise ConfigError(f"--variants {variant}: expected some of {list(VARIANTS)}")
        losses = VARIANTS[variant].get("losses", ("adv_gdl",))
        runs += [Run(loss, seeds[0], variant) for loss in losses]
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
    (`recovered`), or stopped because it diverged (`diverged`). A run JSON there that does not
    parse is a DataError naming it, never trained or scored over."""
    out, data, work = Path(out), Path(data), Path(work)
    _claim(out, settings, recording)
    atari.record(data, recording, progress=progress)
    done = []
    for run in runs:
        path = out / "runs" / f"{run.name}.json"
        weights_only = not (work / run.name / "checkpoints").is_dir()  # its run folder is gone
        if path.exists():
            read_result(path)
        elif weights_only and (out / "weights" / f"{run.name}.npz").exists():
            _score_from_weights(run, settings, data / "Test", out, progress)
        else:  # trains, or resumes from its checkpoints
            clips_dir = _clips(data, run.config(settings).clip_frames, settings, progress)
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
    steps = run.steps(settings)
    _check_run_folder(run_dir, clips_dir)
    say(f"study: {run.name} ({steps} steps, {run.precision})")
    start = _start_from(run, out, work)
    init = run.init
    started = time.perf_counter()
    record = run.identity(settings)
    try:
        train.train(
            config,
            clips_dir,
            run_dir,
            steps,
            adversarial=run.adversarial,
            seed=run.seed,
            load_path=start,
            init_weights=out / "weights" / f"{init}.npz" if init else None,
            precision=run.precision,
            test_dir=test_dir,
            recursions=1,
            frequencies=frequencies,
            progress=progress,
        )
    except train.TrainingDiverged as error:  # a result too: recorded, and the study goes on
        say(f"study: {run.name} diverged ({error}); recorded in {out / 'runs'}")
        record["diverged"] = str(error)
    finally:
        _mark_run_folder(run_dir, clips_dir)
    seconds = time.perf_counter() - started
    log_path = run_dir / "results" / "train_log.csv"
    log = train.read_log(log_path) if log_path.exists() else []  # none if it diverged at once
    if "diverged" not in record:
        generator = _generator(run_dir, config)
        record["scores"] = episode_scores(
            rollout_predictor(generator, test_dir, settings), test_dir, settings, progress
        )
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


def _check_run_folder(run_dir: Path, clips_dir: Path) -> None:
    """ConfigError if the run folder under --work was trained on other clips: two studies
    (two --data) sharing one --work would otherwise resume each other's runs of one name."""
    mark = run_dir / CLIPS_MARK
    trained_on = mark.read_text().strip() if mark.exists() else None
    if trained_on not in (None, str(clips_dir.resolve())):
        raise ConfigError(
            f"{run_dir}: a run of this name was trained there on {trained_on}, "
            f"not on {clips_dir}; give this study its own --work"
        )


def _mark_run_folder(run_dir: Path, clips_dir: Path) -> None:
    if run_dir.is_dir() and not (run_dir / CLIPS_MARK).exists():
        (run_dir / CLIPS_MARK).write_text(f"{clips_dir.resolve()}\n")


def _start_from(run: Run, out: Path, work: Path) -> Path | None:
    """The run folder whose last checkpoint a run of a "from" variant starts from, while it has
    no checkpoint of its own (then it resumes from those); ConfigError if that run is not done."""
    from avgkit import checkpoints

    earlier = VARIANTS[run.variant].get("from")
    if not earlier or checkpoints.latest_readable(work / run.name / "checkpoints", _quiet):
        return None
    name = Run(run.loss, run.seed, earlier).name
    finished = out / "runs" / f"{name}.json"
    if not finished.exists() or "diverged" in read_result(finished):
        raise ConfigError(f"{run.name} continues {name}, which has not finished: run it first")
    if not (work / name / "checkpoints").is_dir():
        raise ConfigError(
            f"{run.name} continues {name}, whose checkpoints are gone from {work / name}: "
            "train it again"
        )
    return work / name


def _score_from_weights(run: Run, settings, test_dir, out, progress) -> None:
    """A finished run whose JSON is missing but whose G weights are kept: score it again from
    the weights instead of training it again. (The study's first sessions lost their run JSONs
    to a `.gitignore` rule that matched `docs/study/runs/`.) What only training knew (the time,
    the CPU, D's diagnostics at the end) comes from `<out>/summary.json` when it lists the run,
    else stays empty; D's curves are lost. `recovered` says so in the JSON, which is written only
    where no JSON is, even one that appeared while this one was scored: a recovered JSON never
    replaces a run's own."""
    from avgkit import models

    say = tqdm.write if progress else _quiet
    say(f"study: {run.name} scored again from {out / 'weights' / f'{run.name}.npz'}")
    config = run.config(settings)
    generator = models.build_generator(config)
    pretrained.load_weights(generator, out / "weights" / f"{run.name}.npz")
    earlier = read_result(out / "summary.json") if (out / "summary.json").exists() else {}
    about = earlier.get("runs", {}).get(run.name, {})
    written = files.write_new_json(
        out / "runs" / f"{run.name}.json",
        {
            **run.identity(settings),
            "train_seconds_this_session": about.get("train_seconds_this_session"),
            "machine": about.get("machine"),
            "date": about.get("date"),
            "recovered": "scores from the float16 weights; "
            + ("time, CPU and date from summary.json" if about else "time, CPU and date lost")
            + "; D's curves lost",
            "scores": episode_scores(
                rollout_predictor(generator, test_dir, settings), test_dir, settings, progress
            ),
            "curves": {},
            "diagnostics_at_end": earlier.get("diagnostics_at_end", {}).get(run.name, {}),
            "discriminator_at_end": earlier.get("discriminator_at_end", {}).get(run.name, {}),
        },
        indent=1,
    )
    if not written:
        say(f"study: {run.name}: kept the JSON that appeared meanwhile, not the recovered one")


def discriminator_at_end(run_dir: Path, config, test_dir, seed: int, count: int = 256) -> dict:
    """D of the run's last checkpoint on `count` training-like crops cut from the test videos:
    its mean sigmoid per scale on real, generated and mismatched frames (`Trainer.d_scores`),
    each crop judged with its frames' recorded actions when the run is action-conditioned."""
    from avgkit import checkpoints, train

    trainer = train.Trainer(config, adversarial=True, seed=seed)
    train.restore(trainer, checkpoints.resolve_checkpoint(run_dir, config))
    clips, actions = train.heldout_examples(test_dir, config, seed, count)
    return {name: _rounded(values) for name, values in trainer.d_scores(clips, actions).items()}


def episode_scores(
    predict, test_dir, settings: Settings, progress: bool = False, sprites_only: bool = False
) -> dict:
    """Scores of `predict` (inputs, recursions) -> predictions on the test windows, averaged per
    episode: {"episodes": names, metric: {region: float (episodes, R) as lists}}; only the
    sprites kept with `sprites_only`."""
    from avgkit import evaluate

    sequences, names, inputs, masks = evaluation_windows(str(test_dir), settings)
    truths = sequences[:, config_lib.HIST_LEN :]
    palette, groups = sprite_groups(str(test_dir), settings)
    predictions = predict(inputs, settings.recursions)
    if sprites_only:
        values = evaluate.sprite_scores(predictions, truths, palette, groups)
    else:
        values = evaluate.score(predictions, truths, masks, progress, palette, groups)
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


def sprite_groups(test_dir: str, settings: Settings):
    """The palette of the test windows (`metrics.find_palette`) and the sprite groups the study
    reports: "objects" (every object colour), "player" (Ms. Pac-Man: the object colour nearest
    PLAYER_COLOUR) and "ghosts" (the others). Computed once per process."""
    from avgkit import metrics

    key = ("sprites", test_dir, settings.recursions, settings.windows_per_episode)
    if key not in _WINDOWS:
        palette = metrics.find_palette(evaluation_windows(test_dir, settings)[0])
        colours = palette.colours[palette.objects].astype(float)
        player = int(np.argmin(np.linalg.norm(colours - PLAYER_COLOUR, axis=1)))
        others = [k for k in range(len(palette.objects)) if k != player]
        _WINDOWS[key] = (palette, {"objects": None, "player": [player], "ghosts": others})
    return _WINDOWS[key]


def baseline_scores(out, test_dir, settings: Settings, progress: bool = False) -> dict:
    """Scores of the baselines (copy_last, flow), computed once into `<out>/baselines.json`
    (the sprites kept added there if an earlier study wrote it without them)."""
    from avgkit import evaluate

    path = Path(out) / "baselines.json"
    found = read_result(path) if path.exists() else {}
    if found and all(SPRITE_METRIC in table for table in found.values()):
        return found
    for name, predict in evaluate.BASELINES.items():
        found[name] = {
            **found.get(name, {}),
            **_sprites_only(predict, test_dir, settings, progress, found.get(name)),
        }
    files.write_json(path, found, indent=1)
    return found


def add_sprite_scores(out, test_dir, settings: Settings, progress: bool = False) -> list[str]:
    """Score the sprites kept of every finished run whose JSON lacks them, from its kept
    weights (`<out>/weights/<name>.npz`), and add them to its JSON; the other scores stay as
    they are. Returns the names of the runs that got them."""
    from avgkit import models

    say = tqdm.write if progress else _quiet
    added = []
    for path in sorted((Path(out) / "runs").glob("*.json")):
        run = read_result(path)
        weights = Path(out) / "weights" / f"{path.stem}.npz"
        if "scores" not in run or SPRITE_METRIC in run["scores"] or not weights.exists():
            continue
        say(f"study: sprites kept of {path.stem}, from {weights}")
        generator = models.build_generator(config_lib.from_dict(run["config"]))
        pretrained.load_weights(generator, weights)
        predict = rollout_predictor(generator, test_dir, settings)
        run["scores"] = _sprites_only(predict, test_dir, settings, progress, run["scores"])
        files.write_json(path, run, indent=1)
        added.append(path.stem)
    return added


def _sprites_only(predict, test_dir, settings, progress, scores: dict | None) -> dict:
    """`scores` with the sprite metrics of `predict` added (all of `episode_scores` if None)."""
    if scores is None:
        return episode_scores(predict, test_dir, settings, progress)
    found = episode_scores(predict, test_dir, settings, progress, sprites_only=True)
    return {**scores, **{key: found[key] for key in found if key.startswith("sprite_")}}


def read_result(path: Path) -> dict:
    """A JSON the study wrote (a run's, summary.json, baselines.json, study.json); DataError
    naming it if it does not parse."""
    return files.read_json(path, "restore it from git, or delete it and rerun `avgkit study`")


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


def rollout_predictor(generator, test_dir, settings: Settings):
    """predict(inputs, recursions) -> `generator`'s rollouts of the study's test windows; an
    action-conditioned G is fed the actions recorded towards each frame it predicts."""
    from avgkit import evaluate
    from avgkit.data import pipeline

    actions = None
    if generator.config.actions:
        hist_len, per_video = config_lib.HIST_LEN, settings.windows_per_episode
        recorded = pipeline.test_actions(
            test_dir, hist_len, settings.recursions, generator.config.actions, per_video
        )
        actions = recorded[:, hist_len:]
    return lambda inputs, recursions: evaluate.rollout(
        generator, inputs, recursions, actions=actions
    )


def _clips(data: Path, length: int, settings: Settings, progress: bool) -> Path:
    """The study's clips of `length` frames, cut if missing: `<data>/clips` for one-step
    training (5 frames), `<data>/clips-<length>` for rollouts."""
    from avgkit.data import clips

    clips_dir = data / ("clips" if length == config_lib.HIST_LEN + 1 else f"clips-{length}")
    if not clips.is_finished(clips_dir):
        spec = clips.ClipSpec(clip_length=length)
        clips.process(
            data / "Train", clips_dir, settings.num_clips, seed=0, spec=spec, progress=progress
        )
    return clips_dir


def _claim(out: Path, settings: Settings, recording: atari.Recording) -> None:
    """Write `<out>/study.json`, or check that the study there has the same settings."""
    path = out / "study.json"
    wanted = {
        "settings": dataclasses.asdict(settings),
        "recording": {**dataclasses.asdict(recording), "hold": list(recording.hold)},
    }
    if path.exists():
        found = read_result(path)
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
