"""The training loop: run folder, resume, checkpoints, summaries, progress and periodic tests.

A run lives in `run_dir` (runs/<name>): checkpoints/ (tf.train.CheckpointManager, numbered by
step), summaries/ (TensorBoard), images/ and results/ (see avgkit.train.outputs), config.json.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from avgkit import checkpoints, evaluate, files, machine, pretrained
from avgkit import config as config_lib
from avgkit.config import Config
from avgkit.data import actions as actions_lib
from avgkit.data import clips as clips_lib
from avgkit.data import frames as frames_lib
from avgkit.data import pipeline
from avgkit.errors import AvgkitError, ConfigError, DataError
from avgkit.train import distribute, outputs
from avgkit.train.batch_metrics import batch_psnr, batch_sharp_diff
from avgkit.train.batches import ShardBatches
from avgkit.train.trainer import Trainer

CHECKPOINTS_KEPT = 5  # the newest checkpoints kept in checkpoints/
FIXED_CLIPS = 4  # clips of the fixed batch whose predictions are saved as images
HELDOUT_CLIPS = 64  # clips cut from the test videos, on which D's held-out score is measured
SUBFOLDERS = ("checkpoints", "summaries", "images", "results")


class TrainingDiverged(AvgkitError):
    """A loss or a weight became NaN or infinite."""


@dataclasses.dataclass(frozen=True)
class Frequencies:
    """Every how many steps to print stats, write summaries, save fixed-batch images, test on
    full frames and save a checkpoint (the TF1 defaults)."""

    stats: int = 10
    summary: int = 100
    images: int = 1000
    test: int = 5000
    save: int = 10000

    @classmethod
    def for_steps(cls, steps: int) -> Frequencies:
        """The TF1 defaults, made more frequent for short runs: at least 20 stats rows, 50
        summaries, 4 fixed-batch images and 4 checkpoints in `steps` steps; no full-frame
        tests (their test folder and depth belong to the caller)."""
        return cls(
            stats=max(1, min(steps // 20, cls.stats)),
            summary=max(1, min(steps // 50, cls.summary)),
            images=max(1, min(steps // 4, cls.images)),
            test=steps + 1,
            save=max(1, min(steps // 4, cls.save)),
        )

    def __post_init__(self):
        flags = {"stats": "--stats_freq", "summary": "--summary_freq"}
        flags.update(images="--img_save_freq", test="--test_freq", save="--model_save_freq")
        for field, flag in flags.items():
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{flag} {value}: expected a positive number of steps")


@dataclasses.dataclass
class History:
    """The scalars of every step one `train` call ran: `values[name][i]` at step `steps[i]`
    (steps count finished updates, from 1): g_loss, d_loss (adversarial), psnr, sharp_diff."""

    steps: list[int] = dataclasses.field(default_factory=list)
    values: dict[str, list[float]] = dataclasses.field(default_factory=dict)

    def add(self, step: int, values: dict) -> None:
        self.steps.append(step)
        for name, value in values.items():
            if np.ndim(value) == 0:
                self.values.setdefault(name, []).append(float(value))


def train(
    config: Config,
    clips_dir: str | Path,
    run_dir: str | Path,
    steps: int,
    *,
    adversarial: bool = True,
    seed: int = 0,
    load_path: str | Path | None = None,
    init_weights: str | Path | None = None,
    overwrite: bool = False,
    test_dir: str | Path | None = None,
    recursions: int = 1,
    frequencies: Frequencies = Frequencies(),
    precision: str = "float32",
    jit_compile: bool = False,
    strategy: tf.distribute.Strategy | None = None,
    progress: bool = True,
) -> History:
    """Train until `steps` steps are done in total, resuming `run_dir` if it holds checkpoints.

    clips_dir: shards of `avgkit process` with the config's crop_size and hist_len. load_path:
    start from this checkpoint instead (a ckpt-<step> prefix, a checkpoints folder or a run
    folder). init_weights: a new run's G starts from these kept weights (a .npz of
    `avgkit.pretrained.save_weights`, or `pretrained:NAME`; `pretrained.start_from`), at step 0
    with fresh optimizers and D; ignored once the run has a checkpoint. overwrite: delete
    `run_dir` first. test_dir: frame folders for the full-frame test every `frequencies.test`
    steps, `recursions` frames deep. precision, jit_compile, strategy: see `Trainer`. A
    checkpoint is written every `frequencies.save` steps, at the last step and on
    KeyboardInterrupt; a NaN or infinite loss raises TrainingDiverged without saving. A
    DataError or ConfigError (a damaged shard, test frames that do not read, weights of another
    network) removes the run folder again if this call made it and no checkpoint was saved in
    it.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"--steps {steps}: expected a positive total number of training steps")
    if config.loss is not None and config_lib.LOSSES[config.loss].adversarial != adversarial:
        raise ConfigError(
            f"loss {config.loss!r} of the ablation trains "
            f"{'with' if not adversarial else 'without'} D; got adversarial={adversarial}"
        )
    if config.curriculum and sum(n for _, n in config.curriculum) != steps:
        stages = ",".join(f"{k}:{n}" for k, n in config.curriculum)
        total = sum(n for _, n in config.curriculum)
        raise ConfigError(
            f"--curriculum {stages} adds up to {total} steps; expected --steps {steps}"
        )
    strategy = strategy or distribute.choose_strategy()
    if precision == "mixed" and not distribute.uses_gpu(strategy):
        check_cpu_mixed_precision()
    say = tqdm.write if progress else _quiet
    batches = ShardBatches(clips_dir, config, seed)
    run_dir = Path(run_dir)
    source = checkpoints.resolve_checkpoint(load_path, config) if load_path else None
    if init_weights and (overwrite or not any(run_dir.glob("checkpoints/ckpt-*"))):
        pretrained.weights_path(init_weights)  # a new run's start: checked before anything runs
    if source and overwrite and run_dir.resolve() in Path(source).resolve().parents:
        raise ConfigError(f"-l/--load_path {source}: inside the run that -O/--overwrite deletes")
    new = overwrite or not run_dir.exists()
    prepare_run(run_dir, config, overwrite)
    # Every worker saves (a collective operation); only the chief into the run folder, the
    # others into a folder of their own, deleted at the end. All resume from the chief's
    # checkpoints, so the run folder must be on a shared file system.
    chief = distribute.is_chief()
    scratch = None if chief else Path(tempfile.mkdtemp(prefix="avgkit-worker-"))
    writer, remove = None, False
    try:
        tests = _load_tests(test_dir, config, recursions)
        heldout = heldout_examples(test_dir, config, seed) if test_dir and adversarial else None
        trainer = Trainer(config, adversarial, seed, strategy, precision, jit_compile)
        checkpoint_dir = scratch or run_dir / "checkpoints"
        manager = tf.train.CheckpointManager(trainer.checkpoint, checkpoint_dir, CHECKPOINTS_KEPT)
        source = source or checkpoints.latest_readable(run_dir / "checkpoints", say)
        if source:
            restore(trainer, source)
        elif init_weights:
            pretrained.start_from(trainer.generator, init_weights)
        start = int(trainer.step.numpy())
        _check_workers_agree(trainer, batches, start, steps)
        mode = "adversarial" if adversarial else "non-adversarial (Lp + GDL)"
        say(f"training {run_dir.name}: preset {config.name}, {mode}, {trainer.policy}")
        say(f"device: {distribute.describe(trainer.strategy)}")
        say(
            f"resuming at step {start} from {source}"
            if source
            else f"starting at step 0{f', G from {init_weights}' if init_weights else ''}"
        )
        log = run_dir / "results" / "train_log.csv"
        if chief:
            outputs.truncate_log(log, start)
            writer = tf.summary.create_file_writer(str(run_dir / "summaries"))
        loop = _Loop(
            trainer, manager, writer, run_dir, frequencies, tests, heldout, log, say, chief
        )
        return loop.run(batches, start, steps, progress)
    except (DataError, ConfigError):  # bad clips, test frames or weights: a new run that
        # saved nothing is not kept
        remove = new and chief and not any((run_dir / "checkpoints").glob("ckpt-*"))
        raise
    finally:
        batches.close()
        if writer is not None:
            writer.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        if remove:
            shutil.rmtree(run_dir, ignore_errors=True)


def test(
    run_dir: str | Path,
    test_dir: str | Path,
    recursions: int = 1,
    load_path: str | Path | None = None,
    config: Config | None = None,
    progress: bool = True,
) -> Path:
    """`avgkit train -T`: the full-frame rollout test of the latest checkpoint of `run_dir` (or
    of `load_path`), written under run_dir/images/test and run_dir/results. Returns the folder
    of the images. config: checked against the checkpoint's preset; used only if the
    checkpoint's run has no config.json."""
    run_dir = Path(run_dir)
    if not load_path and tf.train.latest_checkpoint(str(run_dir / "checkpoints")) is None:
        raise ConfigError(f"{run_dir}: no checkpoint to test; train first or pass -l/--load_path")
    source = checkpoints.resolve_checkpoint(load_path or run_dir, config)
    config = checkpoints.checkpoint_config(source, config)
    tests = _load_tests(test_dir, config, recursions)
    trainer = Trainer(config)
    restore(trainer, source)
    step = int(trainer.step.numpy())
    writer = tf.summary.create_file_writer(str(run_dir / "summaries"))
    say = tqdm.write if progress else _quiet
    try:
        folder = run_rollout_test(trainer.generator, tests, run_dir, step, writer)
    finally:
        writer.close()
    say(f"test of {source} (step {step}): images in {folder}")
    return folder


def prepare_run(run_dir: Path, config: Config, overwrite: bool) -> None:
    """Start `run_dir` (deleted first with `overwrite`), or check that the run there is of
    `config`, so that it can resume."""
    if not run_dir.name or run_dir.name in (".", ".."):
        raise ConfigError(f"-n/--name {run_dir.name!r}: expected a folder name for the run")
    chief = distribute.is_chief()
    if overwrite and run_dir.exists() and chief:
        shutil.rmtree(run_dir)
    saved = run_dir / "config.json"
    if saved.exists():
        _check_same_config(config_lib.load(saved), config, run_dir)
    elif chief:
        for folder in SUBFOLDERS:
            (run_dir / folder).mkdir(parents=True, exist_ok=True)
        config.save(saved)


def restore(trainer: Trainer, checkpoint: str) -> None:
    """Load models, optimizers and step from `checkpoint`; AvgkitError if its files are
    damaged or it does not fit the trainer's preset."""
    checkpoints.check_readable(checkpoint)
    try:
        trainer.checkpoint.restore(checkpoint).assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as error:
        reason = str(error).strip().splitlines()[0]
        raise AvgkitError(
            f"{checkpoint}: does not fit preset {trainer.config.name!r} ({reason})"
        ) from None


def run_rollout_test(generator, tests, run_dir: Path, step: int, writer) -> Path:
    """Rollouts of the test sequences: images, per-recursion PSNR and sharpness (results and
    summaries). tests: (uint8 sequences, names, hist_len, recursions, the actions of the
    predicted frames (sequences, recursions) or None), as `_load_tests` makes them."""
    sequences, names, hist_len, recursions, actions = tests
    history = pipeline.stack_frames(pipeline.to_unit(sequences[:, :hist_len]))
    predictions = evaluate.rollout(generator, history, recursions, actions=actions)
    folder = run_dir / "images" / "test" / f"step_{step:08d}"
    outputs.write_test(folder, names, sequences, predictions, hist_len)
    truths = pipeline.to_unit(sequences[:, hist_len:])
    psnr = [float(batch_psnr(predictions[:, r], truths[:, r])) for r in range(recursions)]
    sharp = [float(batch_sharp_diff(predictions[:, r], truths[:, r])) for r in range(recursions)]
    files.write_json(
        run_dir / "results" / f"test_step_{step:08d}.json",
        {"step": step, "sequences": list(names), "psnr": psnr, "sharp_diff": sharp},
    )
    with writer.as_default(step=step):
        for r in range(recursions):
            tf.summary.scalar(f"test/psnr/recursion{r + 1}", psnr[r])
            tf.summary.scalar(f"test/sharp_diff/recursion{r + 1}", sharp[r])
    return folder


def heldout_examples(test_dir, config: Config, seed: int, count: int = HELDOUT_CLIPS):
    """uint8 (count, crop, crop, 3 * (hist_len + 1)): training-like clips (movement filter
    included) cut from the test videos, a few from each, for D's held-out score; and with
    `config.actions` the actions of their frames, uint8 (count, hist_len + 1), from the test
    videos' actions.csv (else None)."""
    videos, _ = frames_lib.list_videos(test_dir, min_frames=config.hist_len + 1)
    if not videos:
        raise DataError(f"-t/--test_dir {test_dir}: no video of {config.hist_len + 1} frames")
    rng = np.random.default_rng([seed, 1])  # not the training batches' streams
    spec = clips_lib.ClipSpec(hist_len=config.hist_len, crop_size=config.crop_size)
    per_video = -(-count // len(videos))
    cut, actions = [], []
    for video in videos:
        starts = np.sort(rng.integers(0, len(video) - spec.clip_frames + 1, per_video))
        runs = starts[:, None] + np.arange(spec.clip_frames)
        frames = frames_lib.read_video(video, runs.ravel())
        local = np.arange(per_video) * spec.clip_frames  # each run's first frame in `frames`
        cut.append(clips_lib.crop_clips(frames, local, rng, spec)[0])
        if config.actions:
            actions.append(actions_lib.read(video, config.actions)[runs])
    return np.concatenate(cut)[:count], np.concatenate(actions)[:count] if actions else None


class _Loop:
    """The loop of one `train` call; `run` trains steps start..steps-1 (0-based)."""

    def __init__(
        self, trainer, manager, writer, run_dir, frequencies, tests, heldout, log, say, chief
    ):
        self.trainer, self.manager, self.writer, self.run_dir = trainer, manager, writer, run_dir
        self.every, self.tests, self.log, self.say, self.chief = frequencies, tests, log, say, chief
        self.heldout = heldout
        self.saved = int(trainer.step.numpy())
        self.history = History()

    def run(self, batches: ShardBatches, start: int, steps: int, progress: bool) -> History:
        fixed = batches.fixed(FIXED_CLIPS), batches.fixed_actions(FIXED_CLIPS)
        bar = tqdm(total=steps, initial=start, unit="step", disable=not progress, leave=True)
        clock, clock_step = time.perf_counter(), start
        try:
            for step in range(start, steps):
                batch, actions = batches.batch(step), batches.actions(step)
                values = self.trainer.train_step(*batch, actions=actions)
                done = step + 1
                self._check_finite(values, done)
                self.history.add(done, values)
                bar.update()
                heldout_due = self.heldout is not None and done % self.every.test == 0
                if done % self.every.stats == 0 or done == steps or heldout_due:
                    now = time.perf_counter()
                    rate = (done - clock_step) / max(now - clock, 1e-9)
                    diagnostics = self._diagnostics(batch, actions, heldout_due)
                    clock, clock_step = time.perf_counter(), done  # diagnostics not in the rate
                    self._stats(done, values, diagnostics, rate, bar)
                if self.chief and done % self.every.summary == 0:
                    self._summaries(done, values)
                if self.chief and done % self.every.images == 0:
                    self._images(done, fixed)
                if self.chief and self.tests and done % self.every.test == 0:
                    run_rollout_test(
                        self.trainer.generator, self.tests, self.run_dir, done, self.writer
                    )
                if done % self.every.save == 0 or done == steps:
                    self._save()
        except KeyboardInterrupt:
            self._save()
            self.say(f"interrupted: saved step {self.saved}; rerun to continue")
            raise
        finally:
            bar.close()
        if start >= steps:
            self.say(f"already at step {start} of --steps {steps}: nothing to train")
        return self.history

    def _check_finite(self, values: dict, step: int) -> None:
        for name, what in (("g_loss", "generator"), ("d_loss", "discriminator")):
            if name in values and not np.isfinite(values[name]):
                where = self.manager.latest_checkpoint or "none saved yet"
                raise TrainingDiverged(
                    f"step {step}: the {what} loss is {values[name]}; training stopped without "
                    f"saving. The last good checkpoint: {where}. Try lower learning rates "
                    "(g_learning_rate, d_learning_rate in the config)"
                )

    def _save(self) -> None:
        step = int(self.trainer.step.numpy())
        if step == self.saved:
            return
        models = (self.trainer.generator, self.trainer.discriminator)
        if not all(np.all(np.isfinite(v.numpy())) for m in models for v in m.weights):
            raise TrainingDiverged(f"step {step}: weights are not finite; not saved")
        self.manager.save(checkpoint_number=step)
        self.saved = step
        if self.writer is not None:
            self.writer.flush()

    def _diagnostics(self, batch, actions, heldout_due: bool) -> dict[str, np.ndarray]:
        """D's per-scale diagnostics (`Trainer.diagnostics`) on this step's G and D batches (and
        their actions), and "d_heldout" on the held-out clips when due; none without D."""
        if not self.trainer.adversarial:
            return {}
        found = self.trainer.diagnostics(batch[0], batch[1], actions and actions[:2])
        if heldout_due:
            found["d_heldout"] = self.trainer.d_real(*self.heldout)
        return found

    def _stats(self, step: int, values: dict, diagnostics: dict, rate: float, bar) -> None:
        g, d = float(values["g_loss"]), float(values.get("d_loss", np.nan))
        bar.set_postfix_str(f"G {g:.4f}" + (f" D {d:.4f}" if "d_loss" in values else ""))
        terms = ", ".join(
            f"{name} {float(np.sum(values[f'g_{name}'])):.4f}"
            for name in ("lp", "gdl", "adv")
            if f"g_{name}" in values
        )
        self.say(
            f"step {step}: G {g:.4f} ({terms})"
            + (f"  D {d:.4f}" if "d_loss" in values else "")
            + f"  PSNR {float(values['psnr']):.2f} dB  sharp diff "
            + f"{float(values['sharp_diff']):.2f} dB  {rate:.1f} steps/s"
        )
        if diagnostics:
            self.say(
                "  D per scale: " + "  ".join(f"{n} {_scales(v)}" for n, v in diagnostics.items())
            )
        if self.chief:
            row = {name: float(values[name]) for name in ("g_loss", "psnr", "sharp_diff")}
            row.update(step=step, d_loss="" if np.isnan(d) else d, steps_per_second=rate)
            for name, per_scale in diagnostics.items():
                row.update({f"{name}_{k}": float(v) for k, v in enumerate(per_scale)})
            scales = len(self.trainer.config.scale_factors)
            outputs.append_log(self.log, row, outputs.log_columns(scales))
            with self.writer.as_default(step=step):
                for name, per_scale in diagnostics.items():
                    for k, value in enumerate(per_scale):
                        tf.summary.scalar(f"discriminator/{name}/scale{k}", value)

    def _summaries(self, step: int, values: dict) -> None:
        with self.writer.as_default(step=step):
            tf.summary.scalar("generator/loss", values["g_loss"])
            for term in ("lp", "gdl", "adv"):
                for k, value in enumerate(values.get(f"g_{term}", [])):
                    tf.summary.scalar(f"generator/{term}/scale{k}", value)
            if "d_loss" in values:
                tf.summary.scalar("discriminator/loss", values["d_loss"])
                for k, value in enumerate(values["d_scales"]):
                    tf.summary.scalar(f"discriminator/scale{k}", value)
            tf.summary.scalar("train/psnr", values["psnr"])
            tf.summary.scalar("train/sharp_diff", values["sharp_diff"])

    def _images(self, step: int, fixed: tuple) -> None:
        clips, actions = fixed
        hist_len = self.trainer.config.hist_len
        history, target = pipeline.split_clip(pipeline.to_unit(clips), hist_len)
        action = None if actions is None else actions[:, hist_len]
        prediction = self.trainer.predict(history, action)[-1].numpy()
        grid = outputs.fixed_batch_grid(history, prediction, target)
        path = self.run_dir / "images" / "train" / f"step_{step:08d}.png"
        outputs.write_image(path, grid)
        with self.writer.as_default(step=step):
            tf.summary.image("fixed_batch", grid[None])


def _check_workers_agree(trainer: Trainer, batches: ShardBatches, start: int, steps: int) -> None:
    """With several workers: ConfigError on all of them unless they resume at the same step, go
    to the same --steps, train in the same mode and make the same first batch (its CRC): the
    first of these that differs is named."""
    values = {
        "start step": start,
        "--steps": steps,
        "adversarial": int(trainer.adversarial),
        "first batch": zlib.crc32(batches.batch(start)[0].tobytes()) if start < steps else 0,
    }
    hints = {
        "start step": "each resumes from <runs_dir>/<name>/checkpoints: put the run folder on a "
        "file system all machines share, or pass all the same -l/--load_path",
        "--steps": "pass all the same --steps",
        "adversarial": "pass all the same -a/--adversarial and --loss",
        "first batch": "give all the same clips (-c/--clips_dir) and --seed",
    }
    distribute.check_agree(trainer.strategy, values, hints)


def _load_tests(test_dir, config: Config, recursions: int):
    """(uint8 sequences, names, hist_len, recursions, actions of the predicted frames or None)
    for `run_rollout_test`; None without a test folder."""
    if test_dir is None:
        return None
    hist_len = config.hist_len
    sequences, names = pipeline.test_sequences(test_dir, hist_len, recursions)
    actions = None
    if config.actions:
        actions = pipeline.test_actions(test_dir, hist_len, recursions, config.actions)
        actions = actions[:, hist_len:]
    return sequences, names, hist_len, recursions, actions


def _check_same_config(found: Config, config: Config, run_dir: Path) -> None:
    hint = "pass -O/--overwrite to start it again or choose another -n/--name"
    if found.name != config.name:
        raise ConfigError(
            f"{run_dir}: holds a run of preset {found.name!r}, not {config.name!r}; {hint}"
        )
    if not config_lib.same_curriculum(found.curriculum, config.curriculum):
        stages = ",".join(f"{k}:{n}" for k, n in found.curriculum) or "none (one step ahead)"
        raise ConfigError(
            f"{run_dir}: holds a run trained with curriculum {stages}; resume it with that "
            f"curriculum (--curriculum, --rollout_steps), or {hint}"
        )
    if dataclasses.replace(found, curriculum=config.curriculum) != config:
        fields = [
            f.name
            for f in dataclasses.fields(Config)
            if getattr(found, f.name) != getattr(config, f.name)
        ]
        raise ConfigError(
            f"{run_dir}: holds a {found.name} run with another config ({', '.join(fields)} "
            f"differ); {hint}"
        )


def _scales(values) -> str:
    return "/".join(f"{float(v):.2f}" for v in values)


def check_cpu_mixed_precision() -> None:
    """ConfigError unless mixed precision on this CPU is fast: bfloat16 instructions, and
    TensorFlow's oneDNN kernels on in this process (README, Performance)."""
    if not machine.has_bfloat16():
        raise ConfigError(
            f"--mixed_precision: this CPU ({machine.cpu()['processor']}) has no bfloat16 "
            f"instructions ({' or '.join(machine.BFLOAT16_FLAGS)}), so bfloat16 would be emulated, "
            "2-14x slower than float32 (README, Performance); train without it"
        )
    if not machine.onednn_enabled():
        raise ConfigError(
            "--mixed_precision: TensorFlow's oneDNN kernels are off in this process "
            f"(TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset')}); "
            "without them bfloat16 steps ran 5-11x slower than float32 (README, Performance); "
            "unset TF_ENABLE_ONEDNN_OPTS or train without --mixed_precision"
        )


def _quiet(*args, **kwargs) -> None:
    pass
