"""`avgkit bench`, rollouts: seconds per predicted full frame, float32 against mixed precision.

Histories of full test frames (210x160 for Ms. Pac-Man) go through `avgkit.evaluate.rollout`,
`batch_size` at a time, with G as `avgkit.train.Trainer` builds it (float32, or Keras'
mixed_bfloat16 policy: float32 variables, bfloat16 convolutions). Each history predicts one
frame: a recursion costs the same whatever its depth. After a warm-up call of one history (it
traces the compiled step), a batch of `batch_size` histories is timed `Sizes.rounds` times, with
fewer histories or rounds when the warm-up frame says they would take more than
`Sizes.rollout_budget` seconds (emulated bfloat16); `histories` records how many.
seconds_per_frame is the median over the rounds of seconds of the call / histories; `rounds`
keeps each round's figure (two runs of the same rollout differed by up to 6% here). The TF1
implementation's recursive test took 1.15 s a frame at batch 8 (REFERENCE.md).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from avgkit import config as config_lib
from avgkit import evaluate
from avgkit.bench.train import Sizes, generator_flops, goal, print_goals
from avgkit.data import pipeline
from avgkit.train import Trainer

TF1_SECONDS_PER_FRAME = 1.15  # the TF1 code's full-frame test at batch 8 (REFERENCE.md)
GOAL_SECONDS_PER_FRAME = 0.65  # issue #5: mixed precision, paper preset
GOAL_SPEEDUP_OVER_FLOAT32 = 1.6  # issue #5: mixed against float32 in the same run


def run(test_dir: Path, presets: list[str], sizes: Sizes, batch_size: int = 8) -> dict:
    """The rollout section of bench.json: every preset in float32 and mixed precision."""
    results = {"batch_size": batch_size, "presets": {}}
    for name in presets:
        config = config_lib.preset(name)
        print(f"bench rollout: {name}", flush=True)
        inputs = histories(test_dir, config.hist_len, batch_size)
        results["frame_size"] = list(inputs.shape[1:3])
        entry = {
            precision: time_rollout(Trainer(config, precision=precision), inputs, sizes)
            for precision in ("float32", "mixed")
        }
        seconds = {key: entry[key]["seconds_per_frame"] for key in ("float32", "mixed")}
        entry["mixed_speedup_over_float32"] = seconds["float32"] / seconds["mixed"]
        if name == "paper":
            entry["tf1_seconds_per_frame"] = TF1_SECONDS_PER_FRAME
            entry["speedup_over_tf1"] = {
                key: TF1_SECONDS_PER_FRAME / value for key, value in seconds.items()
            }
        results["presets"][name] = entry
    if "paper" in results["presets"]:
        paper = results["presets"]["paper"]
        results["goals"] = {
            "paper_mixed_seconds_per_frame": goal(
                paper["mixed"]["seconds_per_frame"],
                GOAL_SECONDS_PER_FRAME,
                "paper, mixed precision: seconds per predicted full frame",
                at_most=True,
            ),
            "paper_mixed_speedup_over_float32": goal(
                paper["mixed_speedup_over_float32"],
                GOAL_SPEEDUP_OVER_FLOAT32,
                "paper: float32 seconds per frame / mixed seconds per frame",
            ),
        }
    return results


def histories(test_dir: Path, hist_len: int, count: int) -> np.ndarray:
    """`count` histories of full test frames, float32 (count, H, W, 3 * hist_len) in [-1, 1]:
    non-overlapping runs from the start of each test video, repeated if there are fewer."""
    sequences, _ = pipeline.test_sequences(test_dir, hist_len, recursions=1, per_video=count)
    sequences = sequences[np.arange(count) % len(sequences), :hist_len]
    return pipeline.stack_frames(pipeline.to_unit(sequences)).astype(np.float32)


def time_rollout(trainer: Trainer, inputs: np.ndarray, sizes: Sizes) -> dict:
    """Seconds per frame of `evaluate.rollout` with the trainer's G: one frame per history."""
    generator = trainer.generator
    started = time.perf_counter()
    evaluate.rollout(generator, inputs[:1], 1)  # warm-up
    warmup = time.perf_counter() - started
    count = max(1, min(len(inputs), int(sizes.rollout_budget / sizes.rounds / warmup)))
    rounds, spent = [], 0.0
    while len(rounds) < sizes.rounds and spent < sizes.rollout_budget:
        started = time.perf_counter()
        evaluate.rollout(generator, inputs[:count], 1, batch_size=count)
        seconds = time.perf_counter() - started
        spent += seconds
        rounds.append(seconds / count)
    seconds_per_frame = float(np.median(rounds))
    flops = generator_flops(trainer.config, *inputs.shape[1:3], batch=1)
    return {
        "policy": trainer.policy,
        "histories": count,
        "warmup_seconds": warmup,
        "rounds": rounds,
        "seconds_per_frame": seconds_per_frame,
        "gflops_per_frame": flops / 1e9,
        "gflops_per_second": flops / seconds_per_frame / 1e9,
    }


def print_summary(results: dict) -> None:
    """A table of the rollout section, with the TF1 figure and the goals."""
    height, width = results["frame_size"]
    print(
        f"rollout: {height}x{width} frames, one prediction per history, up to "
        f"{results['batch_size']} at a time (TF1: {TF1_SECONDS_PER_FRAME} s a frame at 8)"
    )
    print(f"{'preset':8} {'precision':16} {'histories':>9} {'s/frame':>8} {'GFLOP/s':>8}")
    for name, entry in results["presets"].items():
        for key in ("float32", "mixed"):
            timing = entry[key]
            print(
                f"{name:8} {timing['policy']:16} {timing['histories']:9d} "
                f"{timing['seconds_per_frame']:8.4f} {timing['gflops_per_second']:8.1f}"
            )
        print(f"{name:8} mixed: {entry['mixed_speedup_over_float32']:.2f}x float32")
    print_goals(results.get("goals", {}))
