"""`avgkit bench`, clips: `avgkit process` against the TF1 implementation's approach.

The TF1 approach, rewritten for timing (`tf1_style_process`): per clip, read its frames from
disk, crop with the movement filter in Python, save one compressed float64 `.npz`. Both cut
clips from the same recorded frames; disk use is counted as `du` counts it.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from avgkit import config
from avgkit.data import atari, clips
from avgkit.data.frames import list_videos, read_frame

TF1_CLIPS_PER_SECOND = 305  # its process_data measured on this machine (REFERENCE.md)
TF1_DEFAULT_CLIPS = 5_000_000


def run(
    frames_dir: Path, out: Path, clips_count: int, tf1_count: int, recording: atari.Recording
) -> dict:
    """The process section of bench.json: clips/s and disk bytes/clip of `avgkit process` and
    of the TF1 approach, on the same frames (`recording`)."""
    ours_dir = out / "clips"
    summary = clips.process(frames_dir / "Train", ours_dir, clips_count, overwrite=True)
    ours = {
        "clips": clips_count,
        "workers": os.cpu_count(),
        "seconds": summary.seconds,
        "clips_per_second": clips_count / summary.seconds,
        "cpu_seconds": summary.cpu_seconds,
        "clips_per_cpu_second": clips_count / summary.cpu_seconds,
        "du_bytes_per_clip": disk_usage(ours_dir) / clips_count,
        "passed_filter": summary.passed / clips_count,
    }
    tf1_dir = out / "tf1_clips"
    shutil.rmtree(tf1_dir, ignore_errors=True)
    tf1_dir.mkdir(parents=True)
    started, cpu_started = time.perf_counter(), time.process_time()
    tf1_style_process(frames_dir / "Train", tf1_dir, tf1_count)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    tf1 = {
        "clips": tf1_count,
        "workers": 1,
        "seconds": seconds,
        "clips_per_second": tf1_count / seconds,
        "cpu_seconds": cpu_seconds,
        "clips_per_cpu_second": tf1_count / cpu_seconds,
        "du_bytes_per_clip": disk_usage(tf1_dir) / tf1_count,
    }
    shutil.rmtree(tf1_dir)
    free = shutil.disk_usage(out).free
    per_clip, rate = ours["du_bytes_per_clip"], ours["clips_per_second"]
    return {
        "frames": {"videos": recording.train_episodes, "frames_per_video": recording.frames},
        "avgkit": ours,
        "tf1_approach": tf1,
        "speedup": ours["clips_per_second"] / tf1["clips_per_second"],
        # per CPU second: the same ratio, robust to other jobs on a shared machine
        "speedup_per_cpu_second": ours["clips_per_cpu_second"] / tf1["clips_per_cpu_second"],
        "disk_ratio": ours["du_bytes_per_clip"] / tf1["du_bytes_per_clip"],
        "speedup_vs_tf1_measured_305": ours["clips_per_second"] / TF1_CLIPS_PER_SECOND,
        "projected_5M": {
            "minutes": TF1_DEFAULT_CLIPS / rate / 60,
            "gigabytes": TF1_DEFAULT_CLIPS * per_clip / 1e9,
            "free_gigabytes": free / 1e9,
        },
    }


def full_run(frames_dir: Path, out: Path) -> dict:
    """Process the TF1 default of 5,000,000 clips for real; the shards are deleted afterwards."""
    clips_dir = out / "clips_5M"
    summary = clips.process(frames_dir / "Train", clips_dir, TF1_DEFAULT_CLIPS, overwrite=True)
    figures = {
        "clips": TF1_DEFAULT_CLIPS,
        "minutes": summary.seconds / 60,
        "clips_per_second": TF1_DEFAULT_CLIPS / summary.seconds,
        "du_gigabytes": disk_usage(clips_dir) / 1e9,
    }
    shutil.rmtree(clips_dir)
    return figures


def tf1_style_process(train_dir: Path, clips_dir: Path, count: int, seed: int = 0) -> None:
    """The TF1 implementation's approach, rewritten for timing: per clip, pick a random video and
    run of frames, read them from disk, scale to [-1, 1] float64, try random crops in a Python
    loop until one moves enough, and save the clip as its own compressed `.npz`."""
    rng = np.random.default_rng(seed)
    videos, _ = list_videos(train_dir, min_frames=config.HIST_LEN + 1)
    size = config.CROP_SIZE
    for index in tqdm(range(count), desc="TF1 approach", unit="clip"):
        video = videos[rng.integers(len(videos))]
        start = rng.integers(len(video) - config.HIST_LEN)
        paths = video.frames[start : start + config.HIST_LEN + 1]
        clip = np.concatenate([read_frame(p) / 127.5 - 1.0 for p in paths], axis=-1)
        take_first = rng.random() < config.TAKE_FIRST_PROB
        for _ in range(config.MOVEMENT_MAX_TRIES):
            y = rng.integers(clip.shape[0] - size + 1)
            x = rng.integers(clip.shape[1] - size + 1)
            crop = clip[y : y + size, x : x + size]
            if take_first or _tf1_movement(crop) > config.MOVEMENT_THRESHOLD:
                break
        np.savez_compressed(clips_dir / f"{index}.npz", crop)


def _tf1_movement(crop: np.ndarray) -> float:
    return sum(
        float(
            np.sum(np.square(crop[..., 3 * (i + 1) : 3 * (i + 2)] - crop[..., 3 * i : 3 * (i + 1)]))
        )
        for i in range(config.HIST_LEN)
    )


def disk_usage(folder: Path) -> int:
    """Bytes on disk as `du` counts them: allocated blocks of every file below `folder`."""
    return sum(path.stat().st_blocks * 512 for path in Path(folder).rglob("*") if path.is_file())


def print_summary(process: dict, full: dict | None = None) -> None:
    """Print the process section (and `full`, the 5,000,000 clips made for real)."""
    ours, tf1 = process["avgkit"], process["tf1_approach"]
    print(
        f"avgkit process: {ours['clips_per_second']:.0f} clips/s, "
        f"{ours['du_bytes_per_clip']:.0f} bytes/clip on disk ({ours['clips']} clips)"
    )
    print(
        f"TF1 approach:   {tf1['clips_per_second']:.0f} clips/s, "
        f"{tf1['du_bytes_per_clip']:.0f} bytes/clip on disk ({tf1['clips']} clips)"
    )
    print(
        f"speed-up {process['speedup']:.0f}x ({process['speedup_per_cpu_second']:.0f}x per CPU "
        f"second; {process['speedup_vs_tf1_measured_305']:.0f}x the TF1 code's 305 clips/s), "
        f"disk use {process['disk_ratio']:.3f} of TF1's"
    )
    projected = process["projected_5M"]
    print(
        f"5,000,000 clips: about {projected['minutes']:.1f} min and "
        f"{projected['gigabytes']:.2f} GB "
        f"({projected['free_gigabytes']:.0f} GB free)"
    )
    if full is not None:
        print(f"5,000,000 clips for real: {full['minutes']:.1f} min, {full['du_gigabytes']:.2f} GB")
