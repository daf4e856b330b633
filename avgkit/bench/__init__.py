"""`avgkit bench`: avgkit measured against the TF1 implementation's approach, in one run.

Sections, on the same recorded Ms. Pac-Man frames (`BENCH_RECORDING`):
- "process": `avgkit process` (shards, all cores) against the TF1 approach (per clip: read its
  frames from disk, crop with the movement filter in Python, save one compressed float64 `.npz`;
  `avgkit.bench.process`);
- "train": training steps/s and share of a conv2d peak, mixed precision (`avgkit.bench.train`);
- "rollout": seconds per predicted full frame, float32 and mixed (`avgkit.bench.rollout`).
Figures go to `<out>/bench.json`; a run of some sections replaces those and keeps the others.
Compare ratios from one section's run, since this machine is shared and absolute speeds drift.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from avgkit import files, machine
from avgkit.bench import process, rollout, train
from avgkit.bench.train import FULL, QUICK, Sizes
from avgkit.data import atari

__all__ = ["BENCH_RECORDING", "FULL", "PRESETS", "QUICK", "SECTIONS", "Sizes", "run"]

BENCH_RECORDING = atari.Recording(train_episodes=8, test_episodes=1, frames=500, seed=1234)
SECTIONS = ("process", "train", "rollout")
PRESETS = ("tiny", "small", "official", "paper")


def run(
    out: str | Path = "runs/bench",
    clips: int = 100_000,
    tf1_clips: int = 3_000,
    full: bool = False,
    sections: tuple[str, ...] = SECTIONS,
    presets: tuple[str, ...] = PRESETS,
    sizes: Sizes = FULL,
    loss_preset: str = "official",
    recording: atari.Recording = BENCH_RECORDING,
) -> dict:
    """Run the `sections`, print a summary and write `<out>/bench.json`; returns its figures.

    clips, tf1_clips, full: the process section; presets, sizes: the train and rollout
    sections; loss_preset: the preset of the train section's loss curves.
    """
    out = Path(out)
    frames_dir = atari.record(out / "mspacman", recording)
    path = out / "bench.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results["machine"] = _machine()  # of this run; each section's own is in "machines"
    if "process" in sections:
        results["process"] = process.run(frames_dir, out, clips, tf1_clips, recording)
        results.pop("process_full", None)
        if full:
            results["process_full"] = process.full_run(frames_dir, out)
        _save(path, results, "process")
    if "train" in sections:
        results["train"] = train.run(frames_dir, out, list(presets), sizes, loss_preset)
        _save(path, results, "train")
    if "rollout" in sections:
        results["rollout"] = rollout.run(frames_dir / "Test", list(presets), sizes)
        _save(path, results, "rollout")
    if "process" in sections:
        process.print_summary(results["process"], results.get("process_full"))
    if "train" in sections:
        train.print_summary(results["train"])
    if "rollout" in sections:
        rollout.print_summary(results["rollout"])
    print(f"figures written to {path}")
    return results


def _save(path: Path, results: dict, section: str) -> None:
    """Date `section` in results["dates"], record its machine in results["machines"], and write
    `results` to `path` as JSON (via a temporary file), so a section's figures are kept even if a
    later one fails."""
    results.setdefault("dates", {})[section] = time.strftime("%Y-%m-%d %H:%M")
    results.setdefault("machines", {})[section] = results["machine"]
    files.write_json(path, results)


def _machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        **machine.cpu(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
