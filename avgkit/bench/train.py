"""`avgkit bench`, training: steps/s of the real `avgkit.train.Trainer` and its share of peak.

- Peak: a large conv2d (8x32x32x256 -> 512, 5x5, SAME, float32, tf.function), best of a few runs.
- Per preset: the D+G step ("adversarial") and the G-only step ("g_only"), under tf.function
  and with XLA over the whole step (`jit_compile=True`); run eagerly
  (`tf.config.run_functions_eagerly`) too when `Sizes.executions` asks (as in
  docs/bench/2026-12-02-0815-intel-xeon.json: 3.4-16x slower than tf.function at 32x32, 1.2-1.3x
  for paper).
- Profile: the D+G tf.function step under TensorFlow's profiler, kernel time by op type
  (`avgkit.bench.profile`), and the TF1 approach's D+G step likewise.
- FLOPs per step: an analytic count of the convolutions and dense layers (2 x MACs of the
  forward passes and of the gradients TensorFlow keeps), next to TensorFlow's profiler count on
  the traced step (float_ops), which runs higher: it includes element-wise ops and gradients
  Grappler prunes (D's weight gradients in G's update) and counts the backward passes of D's
  VALID convolutions at their input's size (1.5-7x their work in the paper's D).
- The TF1 approach (`avgkit.bench.tf1`): its graph-mode step for the same preset, timed in the
  same process on the same batches; `speedup_over_tf1` is its seconds over avgkit's.
- Input: the seconds `ShardBatches` takes to prepare a step's batches (a block decoded at once,
  in a thread a block ahead), against the step's.
- Mixed precision: the D+G step under Keras' mixed_bfloat16 (float32 variables and losses)
  against float32 and against the TF1 approach's step of the same run.
- Loss tracking: G's loss over the first steps, float32 against mixed, same seed and batches.
- Rollout training: the D+G step with K = 1, 3 and 5 frames rolled out (`Config.curriculum`),
  float32, tf.function, on clips of 4 + 5 frames; `ratio_to_k_times_one_step` is its seconds
  over K times the one-step seconds of the same run (the goal: at most 1).

Timings: warm-up steps, then rounds of steps on real clips; a round lasts about
`Sizes.round_seconds`. seconds_per_step is the median over rounds (min_seconds_per_step the
least disturbed round), steps_per_second = 1 / seconds_per_step.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from avgkit import config as config_lib
from avgkit import machine
from avgkit.bench import profile
from avgkit.bench.tf1 import TF1Step
from avgkit.config import Config
from avgkit.data import clips as clips_lib
from avgkit.errors import ConfigError
from avgkit.train import ShardBatches, Trainer

PEAK_CONV = {"batch": 8, "size": 32, "channels_in": 256, "channels_out": 512, "kernel": 5}
STEPS_PER_CALL = 4  # D+G steps in one tf.function call, a lever timed beside one a call
TRAIN_CLIPS = 16_384  # clips cut for the timed steps and the loss curves
ROLLOUT_STEPS = (1, 3, 5)  # K of the rollout-training timings
EXECUTIONS = ("eager", "function", "xla")
GOALS = {  # the targets of issues #4, #5 and #10
    "paper_peak_share": 0.8,
    "small_peak_share": 0.5,
    "official_peak_share": 0.5,
    "small_speedup_over_tf1": 1.0,
    "official_speedup_over_tf1": 1.0,
    "paper_mixed_speedup_over_tf1": 1.8,
    "loss_tracking_relative_difference": 0.05,
}


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How much to time. `make bench` uses `FULL`, `--quick` `QUICK`.

    A step timing warms up for `warmup` steps, or fewer once they took `budget` seconds, then
    times up to `rounds` rounds of about `round_seconds` each (the steps a round takes are sized
    on the step before), fewer once the rounds took `budget` seconds: a slow step (paper preset,
    emulated bfloat16) is timed once or twice. A rollout timing (avgkit.bench.rollout) times up
    to `rounds` calls, all of them within about `rollout_budget` seconds.
    """

    warmup: int = 2  # untimed steps before the rounds (the first one traces and compiles)
    rounds: int = 5
    round_seconds: float = 3.0  # a round runs 1 to 50 steps, as many as take about this long
    budget: float = 20.0  # seconds, roughly, for the warm-up and again for the rounds
    peak_runs: int = 5  # timed runs of the peak conv2d
    loss_steps: int = 300  # steps of the float32 and mixed loss curves
    loss_window: int = 20  # steps of the moving average the curves are compared on
    executions: tuple[str, ...] = ("function", "xla")  # those timed; "function" always is
    rollout_budget: float = 120.0  # seconds, roughly, for all rounds of one rollout timing

    def __post_init__(self):
        if min(self.warmup, self.rounds, self.peak_runs, self.loss_steps, self.loss_window) < 1:
            raise ConfigError(f"{self}: warm-up, rounds, runs, steps and window must be >= 1")
        if not set(self.executions) <= set(EXECUTIONS) or "function" not in self.executions:
            raise ConfigError(
                f"executions {self.executions}: expected some of {EXECUTIONS}, with 'function'"
            )


FULL = Sizes()
QUICK = Sizes(
    rounds=2,
    round_seconds=0.5,
    budget=5.0,
    peak_runs=3,
    loss_steps=20,
    loss_window=5,
    rollout_budget=10.0,
)


def run(
    frames_dir: Path,
    out: Path,
    presets: list[str],
    sizes: Sizes = FULL,
    loss_preset: str = "official",
) -> dict:
    """The training section of bench.json: peak, loss curves, per-preset step times, mixed.

    The loss curves' trainers (fresh, seed 0) are then timed for their preset, `loss_preset`:
    warm already, they save tracing and compiling two steps again.
    """
    clips_dir = out / "train_clips"
    clips_lib.process(frames_dir / "Train", clips_dir, TRAIN_CLIPS, progress=False)
    peak = conv_peak(sizes.peak_runs)
    results = {
        "tensorflow": tf.__version__,
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset"),
        "onednn": machine.onednn_enabled(),  # TensorFlow's oneDNN kernels on in this process
        "sizes": dataclasses.asdict(sizes),
        "flops_counted_by": (
            "flops_per_step: analytic, conv and dense layers, the gradients TensorFlow keeps "
            "(avgkit.bench.train.analytic_flops); profiler_flops_per_step: TensorFlow's profiler "
            "on the traced step, element-wise ops and gradients Grappler prunes included, and "
            "the backward passes of VALID convolutions counted at their input's size"
        ),
        "conv_peak": peak,
        "presets": {},
        "mixed": {},
    }
    print(f"bench train: loss curves, {loss_preset}", flush=True)
    results["loss_tracking"], trained = loss_tracking(
        config_lib.preset(loss_preset), clips_dir, sizes
    )
    for name in presets:
        config = config_lib.preset(name)
        print(f"bench train: {name}", flush=True)
        batches = _batches(clips_dir, config)
        warm = trained if name == loss_preset else {}
        results["presets"][name] = preset_benchmark(
            config, batches, sizes, peak, warm.get("float32")
        )
        float32 = results["presets"][name]["adversarial"]["function"]
        results["presets"][name]["input"] = input_cost(clips_dir, config, float32)
        tf1 = results["presets"][name]["tf1"]
        results["mixed"][name] = mixed_benchmark(
            config, batches, sizes, float32, tf1, warm.get("mixed")
        )
    rollout_clips = out / "train_clips_rollout"
    spec = clips_lib.ClipSpec(clip_length=config_lib.HIST_LEN + max(ROLLOUT_STEPS))
    clips_lib.process(frames_dir / "Train", rollout_clips, 2048, spec=spec, progress=False)
    results["rollout_training"] = {}
    for name in presets:
        print(f"bench train: {name}, rollout training", flush=True)
        results["rollout_training"][name] = rollout_training(
            config_lib.preset(name), rollout_clips, sizes
        )
    results["goals"] = _goals(results)
    return results


def conv_peak(runs: int) -> dict:
    """GFLOP/s of `PEAK_CONV` in float32 under tf.function: the best of `runs` after a warm-up."""
    c = PEAK_CONV
    images = tf.random.uniform((c["batch"], c["size"], c["size"], c["channels_in"]))
    kernel = tf.random.uniform((c["kernel"], c["kernel"], c["channels_in"], c["channels_out"]))
    conv = tf.function(lambda x, w: tf.reduce_sum(tf.nn.conv2d(x, w, 1, "SAME")))
    macs = c["batch"] * c["size"] ** 2 * c["kernel"] ** 2 * c["channels_in"] * c["channels_out"]
    flops = 2 * macs
    conv(images, kernel).numpy()
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        conv(images, kernel).numpy()
        seconds.append(time.perf_counter() - started)
    return {
        **c,
        "flops": flops,
        "seconds": min(seconds),
        "runs": seconds,
        "gflops_per_second": flops / min(seconds) / 1e9,
    }


def preset_benchmark(
    config: Config, batches: list, sizes: Sizes, peak: dict, trainer: Trainer | None = None
) -> dict:
    """Both modes, every execution, float32: step times, FLOPs a step and share of `peak`.

    trainer: a float32 D+G trainer of `config` to time instead of a new one.
    """
    results = {"batch_size": config.batch_size, "crop_size": config.crop_size}
    given = trainer
    for mode, adversarial in (("adversarial", True), ("g_only", False)):
        trainer = given if adversarial and given else Trainer(config, adversarial=adversarial)
        if adversarial:  # where the D+G step's time goes (tf.function, warm)
            trainer.train_step(*batches[0])
            results["profile"] = profile.profile_step(trainer.train_step, batches[0])
        results["generator_params"] = trainer.generator.count_params()
        results["discriminator_params"] = trainer.discriminator.count_params()
        flops = analytic_flops(config, adversarial)
        entry = {
            "flops_per_step": flops,
            "profiler_flops_per_step": profiler_flops(trainer, *batches[0]),
        }
        for execution in EXECUTIONS:
            if execution not in sizes.executions:
                entry[execution] = {"timed": False, "note": "left out of this run"}
                continue
            if execution == "xla":
                trainer = Trainer(config, adversarial=adversarial, jit_compile=True)
            entry[execution] = time_steps(trainer, batches, sizes, eager=execution == "eager")
            _add_rates(entry[execution], flops, peak)
        results[mode] = entry
    several = SeveralSteps(Trainer(config), STEPS_PER_CALL)
    timing = per_step(time_steps(several, several.group(batches), sizes), STEPS_PER_CALL)
    _add_rates(timing, results["adversarial"]["flops_per_step"], peak)
    results["adversarial"]["steps_per_call"] = {"steps": STEPS_PER_CALL, **timing}
    results["tf1"] = tf1_benchmark(config, batches, sizes, peak)
    for mode in ("adversarial", "g_only"):
        fastest = _fastest(results[mode])["seconds_per_step"]
        results[mode]["speedup_over_tf1"] = results["tf1"][mode]["seconds_per_step"] / fastest
    results["speedup_over_tf1"] = results["adversarial"]["speedup_over_tf1"]
    return results


def rollout_training(config: Config, clips_dir: Path, sizes: Sizes) -> dict:
    """The float32 D+G step (tf.function) training on K-frame rollouts, for each K of
    ROLLOUT_STEPS, on the same clips: seconds a step, and over K one-step steps."""
    found = {}
    for k in ROLLOUT_STEPS:
        rolled = dataclasses.replace(config, curriculum=((k, 8),))
        found[f"k{k}"] = time_steps(Trainer(rolled), _batches(clips_dir, rolled), sizes)
    one = found["k1"]["seconds_per_step"]
    for k in ROLLOUT_STEPS:
        found[f"k{k}"]["ratio_to_k_times_one_step"] = found[f"k{k}"]["seconds_per_step"] / (k * one)
    return found


def input_cost(clips_dir: Path, config: Config, step: dict) -> dict:
    """What preparing the batches costs: `ShardBatches` decodes a block of steps at once, in a
    thread while the block before it trains. Times one block; its seconds per step, as a share of
    `step` (a float32 D+G timing), are the most the input could add if it did not overlap."""
    shards = ShardBatches(clips_dir, config)
    started = time.perf_counter()
    shards.block_clips(1)
    seconds = time.perf_counter() - started
    shards.close()
    per_step = seconds / shards.block_steps
    return {
        "block_steps": shards.block_steps,
        "shards_drawn": min(shards.shards_per_block, len(shards.manifest["shards"])),
        "block_seconds": seconds,
        "seconds_per_step": per_step,
        "share_of_step": per_step / step["seconds_per_step"],
    }


class SeveralSteps:
    """A lever to measure: `steps` D+G steps of `trainer` in one tf.function call, so Python
    and the call's dispatch are paid once. `train_step` takes batches stacked on a leading
    axis of `steps` (`group`); one device only (the default strategy)."""

    def __init__(self, trainer: Trainer, steps: int):
        self.trainer, self.steps = trainer, steps
        self._call = tf.function(self._several, autograph=False)

    def group(self, batches: list) -> list:
        """Consecutive runs of `steps` batches, each field stacked: (steps, batch, ...)."""
        runs = range(0, len(batches) - self.steps + 1, self.steps)
        return [tuple(map(np.stack, zip(*batches[i : i + self.steps]))) for i in runs]

    def train_step(self, *stacked) -> dict:
        """All `steps` steps; returns the last one's values."""
        values = self._call(*(tf.constant(x) for x in stacked))
        return {name: value.numpy() for name, value in values.items()}

    def _several(self, g_clips, d_clips, d_extra=None):
        for i in range(self.steps):
            extra = None if d_extra is None else d_extra[i]
            values = self.trainer._distributed_step(g_clips[i], d_clips[i], extra)
        return values


def per_step(timing: dict, steps: int) -> dict:
    """`time_steps`' figures for calls of `steps` steps each, restated per step."""
    seconds = timing["seconds_per_step"] / steps
    return {
        "seconds_per_step": seconds,
        "min_seconds_per_step": timing["min_seconds_per_step"] / steps,
        "steps_per_second": 1 / seconds,
        "rounds": [value / steps for value in timing["rounds"]],
        "timed_steps": timing["timed_steps"] * steps,
        "warmup_steps": timing["warmup_steps"] * steps,
    }


def tf1_benchmark(config: Config, batches: list, sizes: Sizes, peak: dict) -> dict:
    """The TF1 approach's step (avgkit.bench.tf1) for `config`, both modes, on `batches`:
    "seconds_per_step" is its D+G step's, "profile" its kernel time by op type."""
    results = {}
    for mode, adversarial in (("adversarial", True), ("g_only", False)):
        step = TF1Step(config, adversarial=adversarial)
        results.setdefault("parameters", step.parameters)  # the D+G step's: G's and D's
        results[mode] = time_steps(step, batches, sizes)
        _add_rates(results[mode], analytic_flops(config, adversarial), peak)
        if adversarial:  # where its D+G step's time goes, beside avgkit's profile
            results["profile"] = profile.profile_step(step.train_step, batches[0])
        step.session.close()
    results["seconds_per_step"] = results["adversarial"]["seconds_per_step"]
    return results


def mixed_benchmark(
    config: Config,
    batches: list,
    sizes: Sizes,
    float32: dict,
    tf1: dict,
    trainer: Trainer | None = None,
) -> dict:
    """The D+G step under mixed precision (tf.function) against `float32`, the float32 one,
    and against `tf1`, the TF1 approach's timing of the same run.

    trainer: a mixed-precision D+G trainer of `config` to time instead of a new one.
    """
    trainer = trainer or Trainer(config, precision="mixed")
    mixed = time_steps(trainer, batches, sizes)
    results = {
        "policy": trainer.policy,
        "float32_seconds_per_step": float32["seconds_per_step"],
        "mixed": mixed,
        "speedup_over_float32": float32["seconds_per_step"] / mixed["seconds_per_step"],
        "tf1_seconds_per_step": tf1["seconds_per_step"],
        "speedup_over_tf1": tf1["seconds_per_step"] / mixed["seconds_per_step"],
    }
    return results


def loss_tracking(config: Config, clips_dir: Path, sizes: Sizes) -> tuple[dict, dict]:
    """G's loss a step over the first `sizes.loss_steps` D+G steps, float32 and mixed, same seed
    and batches; compared on moving averages of `sizes.loss_window` steps.

    Returns the figures and the two trainers, by precision ("float32", "mixed").
    """
    curves, trainers = {}, {}
    for precision in ("float32", "mixed"):
        trainer = trainers[precision] = Trainer(config, precision=precision)
        batches = ShardBatches(clips_dir, config)
        curves[precision] = [
            float(trainer.train_step(*batches.batch(step))["g_loss"])
            for step in range(sizes.loss_steps)
        ]
        batches.close()
    window = min(sizes.loss_window, sizes.loss_steps)
    smooth = {name: _moving_average(curve, window) for name, curve in curves.items()}
    relative = np.abs(smooth["mixed"] - smooth["float32"]) / np.abs(smooth["float32"])
    figures = {
        "preset": config.name,
        "steps": sizes.loss_steps,
        "window": window,
        "g_loss": curves,
        "max_relative_difference": float(relative.max()),
        "final_relative_difference": float(relative[-1]),
    }
    return figures, trainers


def time_steps(trainer: Trainer, batches: list, sizes: Sizes, eager: bool = False) -> dict:
    """Seconds per `trainer.train_step` on `batches` (cycled): median and min over rounds."""
    previous = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(eager)
    try:
        spent = 0.0
        for warmup in range(1, sizes.warmup + 1):
            started = time.perf_counter()
            trainer.train_step(*batches[warmup % len(batches)])
            per_step = time.perf_counter() - started
            spent += per_step
            if spent > sizes.budget:
                break
        rounds, steps, spent = [], 0, 0.0
        while len(rounds) < sizes.rounds and spent <= sizes.budget:
            per_round = max(1, min(50, round(sizes.round_seconds / per_step)))
            started = time.perf_counter()
            for _ in range(per_round):
                trainer.train_step(*batches[steps % len(batches)])
                steps += 1
            seconds = time.perf_counter() - started
            spent += seconds
            per_step = seconds / per_round
            rounds.append(per_step)
    finally:
        tf.config.run_functions_eagerly(previous)
    median = statistics.median(rounds)
    return {
        "seconds_per_step": median,
        "min_seconds_per_step": min(rounds),
        "steps_per_second": 1 / median,
        "rounds": rounds,
        "timed_steps": steps,
        "warmup_steps": warmup,
    }


def profiler_flops(
    trainer: Trainer, g_clips: np.ndarray, d_clips: np.ndarray, d_extra: np.ndarray | None = None
) -> int:
    """FLOPs of one step as TensorFlow's profiler counts them on the Trainer's traced step.

    Traces `trainer._step` (the compiled step `train_step` runs) for these batches; ops inside
    nested functions (an XLA-compiled step) are not counted: use a trainer without XLA.
    """
    extra = None if d_extra is None else trainer._distribute(d_extra, axis=1)
    step = trainer._step.get_concrete_function(
        trainer._distribute(g_clips), trainer._distribute(d_clips), extra
    )
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return int(tf.compat.v1.profiler.profile(step.graph, options=options).total_float_ops)


def analytic_flops(config: Config, adversarial: bool) -> int:
    """FLOPs (2 x MACs) of one training step's convolutions and dense layers, batch_size clips.

    Counts the work left once TensorFlow prunes gradients nobody uses: every forward pass; the
    weight gradients of the model being updated; input gradients on the way to its variables
    (not into the clips). D+G step: D's update runs G forward and D on real and on fake frames
    with their backward passes (twice as many with `config.d_extra_examples`); G's update runs
    G and D, D's input gradients only.
    """
    g, d = generator_macs(config, config.crop_size, config.crop_size), discriminator_macs(config)
    g_all, d_all = sum(map(sum, g)), sum(map(sum, d))
    macs = 3 * g_all - g[0][0]  # G's update: the coarsest first layer sees only the clips
    if adversarial:
        macs += 2 * d_all  # D in G's update: forward and input gradients
        passes = 4 if config.d_extra_examples else 2  # D's update: D on real and on fake frames
        macs += g_all + passes * (3 * d_all - sum(scale[0] for scale in d))
    return 2 * config.batch_size * macs


def generator_flops(config: Config, height: int, width: int, batch: int) -> int:
    """FLOPs (2 x MACs) of G's forward convolutions for `batch` frames of height x width."""
    return 2 * batch * sum(map(sum, generator_macs(config, height, width)))


def generator_macs(config: Config, height: int, width: int) -> list[list[int]]:
    """Multiply-accumulates of each of G's convolutions, per scale, for one frame."""
    macs = []
    for k, factor in enumerate(config.scale_factors):
        pixels = -(-height // factor) * -(-width // factor)
        channels, layers = 3 * config.hist_len + (3 if k else 0), []
        for maps, kernel in zip(
            (*config.g_feature_maps[k], 3), config.g_kernel_sizes[k], strict=True
        ):
            layers.append(pixels * channels * maps * kernel**2)
            channels = maps
        macs.append(layers)
    return macs


def discriminator_macs(config: Config) -> list[list[int]]:
    """Multiply-accumulates of each of D's convolutions and dense layers, per scale, one clip."""
    macs = []
    for k, factor in enumerate(config.scale_factors):
        size, layers = config.crop_size // factor, []
        channels = 3 * config.hist_len + 3 if config.d_sees_history else 3
        for maps, kernel in zip(config.d_feature_maps[k], config.d_kernel_sizes[k], strict=True):
            size -= kernel - 1  # VALID
            layers.append(size**2 * channels * maps * kernel**2)
            channels = maps
        size = size // 2 if config.d_max_pool[k] else size  # the 2x2 max-pool
        units = size**2 * channels
        for width in (*config.d_fc_sizes[k], 1):
            layers.append(units * width)
            units = width
        macs.append(layers)
    return macs


def goal(value: float, target: float, what: str, at_most: bool = False) -> dict:
    """A goal of the issues: met when value >= target (value <= target with `at_most`)."""
    met = value <= target if at_most else value >= target
    return {"what": what, "target": target, "value": value, "met": bool(met)}


def print_summary(results: dict) -> None:
    """A table of the training section: step times, GFLOP/s, share of peak, mixed, goals."""
    peak = results["conv_peak"]["gflops_per_second"]
    print(f"conv2d peak: {peak:.0f} GFLOP/s")
    print(
        f"{'preset':8} {'step':12} {'execution':9} {'s/step':>8} {'steps/s':>8} "
        f"{'GFLOP/s':>8} {'of peak':>7}"
    )
    for name, preset in results["presets"].items():
        for mode in ("adversarial", "g_only"):
            for execution in EXECUTIONS:
                timing = preset[mode][execution]
                if "seconds_per_step" not in timing:
                    print(f"{name:8} {mode:12} {execution:9} {'-':>8}")
                    continue
                _print_timing(name, mode, execution, timing)
            if mode == "adversarial":
                several = preset[mode]["steps_per_call"]
                _print_timing(name, mode, f"{several['steps']} a call", several)
            _print_timing(name, mode, "TF1", preset["tf1"][mode])
    for name, preset in results["presets"].items():
        print(f"{name}: avgkit's D+G step is {preset['speedup_over_tf1']:.2f}x the TF1 approach's")
        _print_profile("avgkit", preset["profile"])
        _print_profile("TF1", preset["tf1"]["profile"])
        batches = preset["input"]
        print(
            f"  input: {batches['seconds_per_step'] * 1e3:.2f} ms a step to prepare "
            f"({batches['share_of_step']:.1%} of the step), in a thread a block ahead"
        )
    for name, mixed in results["mixed"].items():
        print(
            f"{name} D+G step, {mixed['policy']}: {mixed['mixed']['seconds_per_step']:.4f} s, "
            f"{mixed['speedup_over_float32']:.2f}x float32, {mixed['speedup_over_tf1']:.2f}x "
            f"the TF1 approach's {mixed['tf1_seconds_per_step']:.4f} s"
        )
    for name, timings in results.get("rollout_training", {}).items():
        steps = ", ".join(
            f"K={key[1:]} {t['seconds_per_step']:.4f} s ({t['ratio_to_k_times_one_step']:.2f} of "
            f"K one-step steps)"
            for key, t in timings.items()
        )
        print(f"{name} D+G step on rollouts: {steps}")
    tracking = results["loss_tracking"]
    print(
        f"G loss, mixed against float32 ({tracking['preset']}, {tracking['steps']} steps): "
        f"at most {tracking['max_relative_difference']:.2%} apart (moving averages of "
        f"{tracking['window']} steps)"
    )
    print_goals(results["goals"])


def _print_timing(name: str, mode: str, execution: str, timing: dict) -> None:
    print(
        f"{name:8} {mode:12} {execution:9} {timing['seconds_per_step']:8.4f} "
        f"{timing['steps_per_second']:8.2f} {timing['gflops_per_second']:8.1f} "
        f"{timing['peak_share']:7.2f}"
    )


def _print_profile(who: str, profile: dict) -> None:
    top = ", ".join(
        f"{op} {seconds / profile['op_seconds']:.0%}"
        for op, seconds in list(profile["by_op"].items())[:4]
    )
    print(
        f"  {who} profile: {profile['kernels']:.0f} kernels a step, "
        f"{profile['op_seconds']:.4f} s of kernel time, {profile['conv_share']:.0%} of it in "
        f"convolutions ({top})"
    )


def print_goals(goals: dict) -> None:
    """One line per goal: value, target, met or not."""
    for name, item in goals.items():
        verdict = "met" if item["met"] else "NOT met"
        print(f"goal {name}: {item['value']:.3g} against {item['target']}: {verdict}")


def _goals(results: dict) -> dict:
    goals = {}
    step = "float32 D+G step (tf.function or XLA, the faster)"
    for name, preset in results["presets"].items():
        if f"{name}_peak_share" in GOALS:
            goals[f"{name}_peak_share"] = goal(
                _fastest(preset["adversarial"])["peak_share"],
                GOALS[f"{name}_peak_share"],
                f"{name}, {step}: share of the conv peak",
            )
        if f"{name}_speedup_over_tf1" in GOALS:
            goals[f"{name}_speedup_over_tf1"] = goal(
                preset["speedup_over_tf1"],
                GOALS[f"{name}_speedup_over_tf1"],
                f"{name}, {step}: the TF1 approach's seconds / its seconds, same run",
            )
    if "paper" in results["mixed"]:
        goals["paper_mixed_speedup_over_tf1"] = goal(
            results["mixed"]["paper"]["speedup_over_tf1"],
            GOALS["paper_mixed_speedup_over_tf1"],
            "paper, mixed D+G step: the TF1 approach's seconds / its seconds, same run",
        )
    for name, timings in results.get("rollout_training", {}).items():
        worst = max(t["ratio_to_k_times_one_step"] for k, t in timings.items() if k != "k1")
        goals[f"{name}_rollout_step_cost"] = goal(
            worst,
            1.0,
            f"{name}, D+G step on K-frame rollouts (K = {ROLLOUT_STEPS}): its seconds over K "
            "one-step steps, the largest",
            at_most=True,
        )
    goals["loss_tracking"] = goal(
        results["loss_tracking"]["max_relative_difference"],
        GOALS["loss_tracking_relative_difference"],
        "G loss, mixed against float32: largest relative difference of the moving averages",
        at_most=True,
    )
    return goals


def _fastest(entry: dict) -> dict:
    """The faster of the tf.function and XLA timings of a mode (XLA may be untimed)."""
    timed = [entry[name] for name in ("function", "xla") if "seconds_per_step" in entry[name]]
    return min(timed, key=lambda timing: timing["seconds_per_step"])


def _add_rates(timing: dict, flops: int, peak: dict) -> None:
    timing["gflops_per_second"] = flops / timing["seconds_per_step"] / 1e9
    timing["peak_share"] = timing["gflops_per_second"] / peak["gflops_per_second"]


def _batches(clips_dir: Path, config: Config, count: int = 8) -> list:
    """The (G, D) clip batches of the first `count` training steps, loaded once."""
    shards = ShardBatches(clips_dir, config)
    batches = [shards.batch(step) for step in range(count)]
    shards.close()
    return batches


def _moving_average(values: list[float], window: int) -> np.ndarray:
    return np.convolve(values, np.ones(window) / window, mode="valid")
