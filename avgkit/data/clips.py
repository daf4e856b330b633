"""Training clips: random crops of HIST_LEN + 1 consecutive frames, kept if they move.

The rule is the TF1 implementation's (REFERENCE.md): pick a random video and a random run of
HIST_LEN + 1 consecutive frames; with probability 0.05 keep the first random 32x32 crop; otherwise
try up to 100 crops and keep the first whose movement score (the sum over the HIST_LEN consecutive
frame pairs of the summed squared difference, in [-1, 1] units) exceeds 100, or the last one tried.

What differs is the speed and the storage: each frame is decoded once, the score of every crop
position comes from one integral image per run of frames, and clips are stored as uint8 in
compressed shards of `shard_size` clips (`clips-<video>-<part>.npz`, array `clips` of shape
(n, crop, crop, 3 * (HIST_LEN + 1))) described by `manifest.json`.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import threading
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from avgkit import config, files
from avgkit.data.frames import Video, check_frame_sizes, list_videos, read_video
from avgkit.errors import AvgkitError, ConfigError, DataError

MANIFEST = "manifest.json"
FORMAT = "avgkit-clips-1"
PIXEL_SCALE = 127.5  # uint8 difference -> [-1, 1] difference
SHARD_SPAN = 1000  # frames one shard may draw from, so a worker decodes at most ~1000 frames
RUNS_AT_ONCE = 128  # movement tables held in memory at once (about 35 MB at 210x160)


@dataclasses.dataclass(frozen=True)
class ClipSpec:
    """How clips are cut (TF1 constants; see `avgkit.config`)."""

    hist_len: int = config.HIST_LEN
    crop_size: int = config.CROP_SIZE
    threshold: float = config.MOVEMENT_THRESHOLD
    max_tries: int = config.MOVEMENT_MAX_TRIES
    take_first_prob: float = config.TAKE_FIRST_PROB

    @property
    def clip_frames(self) -> int:
        return self.hist_len + 1


@dataclasses.dataclass
class Summary:
    """What one `process` run made."""

    clips_dir: Path
    num_clips: int
    shards: int
    bytes: int
    seconds: float  # wall clock, from listing the frames to the last shard
    cpu_seconds: float  # CPU time of this process and its workers (the work itself)
    passed: int  # clips whose kept crop beats the movement threshold
    made: int  # clips made by this run (0 when everything was already there)
    too_short: list[str]
    ignored_files: int

    def line(self) -> str:
        rate = self.made / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{self.num_clips} clips in {self.shards} shards, {self.bytes / 1e6:.1f} MB "
            f"({self.bytes / max(self.num_clips, 1):.0f} bytes/clip) at {self.clips_dir}; "
            f"{self.made} made in {self.seconds:.1f} s ({rate:.0f} clips/s); "
            f"{self.passed / max(self.num_clips, 1):.1%} passed the movement filter; "
            f"{self.ignored_files} non-image files ignored"
        )


def movement_score(clip: np.ndarray, hist_len: int = config.HIST_LEN) -> float:
    """TF1's movement score of one clip, uint8 (h, w, 3 * (hist_len + 1)), in [-1, 1] units."""
    frames = clip.astype(np.float64).reshape(*clip.shape[:2], hist_len + 1, 3) / PIXEL_SCALE
    return float(np.sum(np.square(np.diff(frames, axis=2))))


def crop_clips(
    frames: np.ndarray, starts: np.ndarray, rng: np.random.Generator, spec: ClipSpec = ClipSpec()
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut one clip per entry of `starts` from `frames`, uint8 (time, H, W, 3).

    Clip i uses frames `starts[i] : starts[i] + hist_len + 1`. Returns `(clips, scores,
    unfiltered)`: uint8 (n, crop, crop, 3 * (hist_len + 1)), the movement score of each kept crop
    (float64, [-1, 1] units), and whether it was one of the 5% kept without the filter.
    """
    size, tries, pairs = spec.crop_size, spec.max_tries, spec.hist_len
    _, height, width, _ = frames.shape
    if height < size or width < size:
        raise DataError(f"frames are {width}x{height}, smaller than the {size}x{size} crop")
    n, rows = len(starts), np.arange(len(starts))
    unfiltered = rng.random(n) < spec.take_first_prob
    ys = rng.integers(0, height - size + 1, (n, tries))
    xs = rng.integers(0, width - size + 1, (n, tries))
    scores = np.zeros((n, tries))
    runs, run_of_clip = np.unique(starts, return_inverse=True)
    for first in range(0, len(runs), RUNS_AT_ONCE):  # bounded memory: 128 tables at a time
        tables = _movement_tables(frames, runs[first : first + RUNS_AT_ONCE], pairs)
        mine = rows[(run_of_clip >= first) & (run_of_clip < first + RUNS_AT_ONCE)]
        _score_tries(scores, mine, run_of_clip - first, tables, ys, xs, size, spec, unfiltered)
    passed = scores > spec.threshold * PIXEL_SCALE**2  # exact: sums of squared uint8 differences
    pick = np.where(passed.any(axis=1) & ~unfiltered, passed.argmax(axis=1), tries - 1)
    pick[unfiltered] = 0
    y, x = ys[rows, pick], xs[rows, pick]
    return (
        _cut(frames, starts, y, x, size, spec.clip_frames),
        scores[rows, pick] / PIXEL_SCALE**2,
        unfiltered,
    )


def process(
    train_dir: str | Path,
    clips_dir: str | Path,
    num_clips: int,
    seed: int = 0,
    workers: int | None = None,
    overwrite: bool = False,
    shard_size: int = 4096,
    spec: ClipSpec = ClipSpec(),
    progress: bool = True,
) -> Summary:
    """Cut `num_clips` clips from the videos in `train_dir` into shards in `clips_dir`.

    Deterministic for a given seed, whatever the number of workers. Safe to stop and rerun: shards
    are written under a temporary name and renamed, and a rerun makes only the missing ones.
    """
    if num_clips < 1:
        raise ConfigError(f"-n/--num_clips {num_clips}: expected a positive number of clips")
    if shard_size < 1:
        raise ConfigError(f"shard_size {shard_size}: expected a positive number of clips")
    started, cpu_started = time.perf_counter(), time.process_time()
    train_dir, clips_dir = Path(train_dir), Path(clips_dir)
    videos, too_short = list_videos(train_dir, min_frames=spec.clip_frames)
    for video in too_short:
        tqdm.write(
            f"warning: {video.path}: {len(video)} frames, fewer than the {spec.clip_frames} a clip "
            "needs; skipped"
        )
    if not videos:
        raise DataError(
            f"{train_dir}: no video has the {spec.clip_frames} frames a clip needs "
            f"(hist_len {spec.hist_len} + 1)"
        )
    plan = _plan(videos, num_clips, seed, shard_size, spec)
    manifest = _manifest(train_dir, videos, num_clips, seed, shard_size, spec, plan)
    _prepare(clips_dir, manifest, overwrite)
    shapes = [_frame_shape(video, spec) for video in videos]
    todo = [task for task in plan if not (clips_dir / task["file"]).exists()]
    tasks = [(videos[t["video"]], t, seed, spec, clips_dir, shapes[t["video"]]) for t in todo]
    sizes = {t["file"]: t["clips"] for t in todo}
    worker_seconds = 0.0
    if workers is None:  # a worker process costs about a second to start: worth ~20k clips
        workers = min(os.cpu_count() or 1, max(1, sum(sizes.values()) // 20_000))
    workers = min(workers, max(len(tasks), 1))
    with tqdm(total=sum(sizes.values()), desc="process", unit="clip", disable=not progress) as bar:
        for file, seconds in _run(tasks, workers):
            bar.update(sizes[file])
            worker_seconds += seconds if workers > 1 else 0.0  # else counted in ours
    manifest["complete"] = True
    files.write_json(clips_dir / MANIFEST, manifest)
    return Summary(
        clips_dir=clips_dir,
        num_clips=num_clips,
        shards=len(plan),
        bytes=sum((clips_dir / t["file"]).stat().st_size for t in plan),
        seconds=time.perf_counter() - started,
        cpu_seconds=time.process_time() - cpu_started + worker_seconds,
        passed=sum(_passed(clips_dir / t["file"], spec.threshold) for t in plan),
        made=sum(sizes.values()),
        too_short=[str(video.path) for video in too_short],
        ignored_files=sum(len(video.ignored) for video in videos + too_short),
    )


def read_manifest(clips_dir: str | Path) -> dict:
    """The manifest of a finished clips folder; DataError if there is none or it is incomplete."""
    clips_dir = Path(clips_dir)
    manifest = _read_manifest(clips_dir)
    if not manifest:
        raise DataError(f"{clips_dir}: no {MANIFEST}; make clips with `avgkit process` first")
    if not manifest.get("complete"):
        raise DataError(f"{clips_dir}: processing did not finish; rerun `avgkit process`")
    return manifest


def load_shard(path: str | Path) -> np.ndarray:
    """The clips of one shard, uint8 (n, crop, crop, 3 * (hist_len + 1))."""
    try:
        with np.load(path) as shard:
            return shard["clips"]
    except (OSError, KeyError, ValueError) as error:
        raise DataError(f"{path}: not a readable clips shard ({error})") from None


# --- helpers ------------------------------------------------------------------------------------


def _cut(frames, starts, ys, xs, size: int, length: int) -> np.ndarray:
    """Crops (n, size, size, 3 * length) at (ys, xs) of the runs `frames[start : start + length]`.

    The frames of a run are stacked on the channel axis once (cv2.merge, over the box that holds
    all its crops), then each crop is a slice of that: far less work than numpy's transposes.
    """
    clips = np.empty((len(starts), size, size, 3 * length), np.uint8)
    order = np.argsort(starts, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(starts[order])) + 1)
    for group in groups:
        start, top, left = starts[group[0]], ys[group].min(), xs[group].min()
        bottom, right = ys[group].max() + size, xs[group].max() + size
        stacked = cv2.merge(list(frames[start : start + length, top:bottom, left:right]))
        for i in group:
            y, x = ys[i] - top, xs[i] - left
            clips[i] = stacked[y : y + size, x : x + size]
    return clips


def _movement_tables(frames: np.ndarray, starts: np.ndarray, pairs: int) -> np.ndarray:
    """Summed-area tables of the movement map of each run, float64 (len(starts), H + 1, W + 1).

    The movement map of the run at `start` sums, per pixel, the squared uint8 differences of
    frame pairs (start + i, start + i + 1) for i < pairs; any box of it then costs four lookups.
    Sums of integers below 2**24 (float32) and 2**53 (float64) are exact.
    """
    first, last = int(starts[0]), int(starts[-1]) + pairs
    steps = np.empty((last - first, *frames.shape[1:3]), np.float32)
    for index in range(first, last):
        difference = cv2.absdiff(frames[index + 1], frames[index]).astype(np.float32)
        steps[index - first] = np.square(difference) @ np.ones(3, np.float32)
    tables = np.empty((len(starts), frames.shape[1] + 1, frames.shape[2] + 1))
    window, at = steps[:pairs].sum(axis=0), first
    for row, start in enumerate(starts):
        if start - at >= pairs:
            window = steps[start - first : start - first + pairs].sum(axis=0)
        else:  # slide the window: add the new pairs, drop the old
            for old in range(at, start):
                window += steps[old + pairs - first] - steps[old - first]
        at = start
        tables[row] = cv2.integral(window, sdepth=cv2.CV_64F)
    return tables


def _score_tries(scores, clips, run_of_clip, tables, ys, xs, size, spec, unfiltered) -> None:
    """Fill `scores[clips]` with the movement of each tried crop (summed squared uint8
    differences). Most clips pass within a few tries: those are scored first, the rest after."""

    def box(clip, y, x):  # clip indices (m,), positions (m, k) -> sums (m, k)
        table = run_of_clip[clip, None]
        return (
            tables[table, y + size, x + size]
            - tables[table, y, x + size]
            - tables[table, y + size, x]
            + tables[table, y, x]
        )

    early = min(spec.max_tries, 4)
    scores[clips, :early] = box(clips, ys[clips, :early], xs[clips, :early])
    threshold = spec.threshold * PIXEL_SCALE**2
    rest = clips[~(scores[clips, :early] > threshold).any(axis=1) & ~unfiltered[clips]]
    scores[rest, early:] = box(rest, ys[rest, early:], xs[rest, early:])


def _frame_shape(video: Video, spec: ClipSpec) -> tuple:
    """The frame shape of a video (from its first frame); DataError if smaller than a crop, or
    naming the first frame whose size (read from its header, nothing decoded) differs, so the
    error does not depend on which crops are drawn."""
    shape = read_video(video, [0]).shape[1:]
    check_frame_sizes(video, (shape[1], shape[0]))
    if min(shape[:2]) < spec.crop_size:
        raise DataError(
            f"{video.frames[0]}: frame is {shape[1]}x{shape[0]}, smaller than the "
            f"{spec.crop_size}x{spec.crop_size} training crop"
        )
    return shape


def _plan(videos: list[Video], num_clips: int, seed: int, shard_size: int, spec: ClipSpec):
    """Which clips go into which shard: a random video (uniform, as TF1) and a random start."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    per_video = rng.multinomial(num_clips, np.full(len(videos), 1 / len(videos)))
    plan = []
    for index, (video, count) in enumerate(zip(videos, per_video)):
        starts = np.sort(rng.integers(0, len(video) - spec.clip_frames + 1, count))
        first, part = 0, 0
        while first < count:  # a shard holds shard_size clips from at most SHARD_SPAN frames
            last = min(first + shard_size, int(np.searchsorted(starts, starts[first] + SHARD_SPAN)))
            plan.append(
                {
                    "file": f"clips-{index:05d}-{part:04d}.npz",
                    "video": index,
                    "part": part,
                    "clips": last - first,
                    "starts": starts[first:last],
                }
            )
            first, part = last, part + 1
    return plan


def _manifest(train_dir, videos, num_clips, seed, shard_size, spec, plan) -> dict:
    return {
        "format": FORMAT,
        "num_clips": num_clips,
        "crop_size": spec.crop_size,
        "hist_len": spec.hist_len,
        "seed": seed,
        "source": str(train_dir.resolve()),
        "movement_threshold": spec.threshold,
        "max_tries": spec.max_tries,
        "take_first_prob": spec.take_first_prob,
        "shard_size": shard_size,
        "videos": [{"name": video.name, "frames": len(video)} for video in videos],
        "shards": [{"file": t["file"], "clips": t["clips"]} for t in plan],
        "complete": False,
    }


def _prepare(clips_dir: Path, manifest: dict, overwrite: bool) -> None:
    """Start a clips folder, or check that the one there was made with the same settings."""
    clips_dir.mkdir(parents=True, exist_ok=True)
    found = _read_manifest(clips_dir)
    if overwrite:
        for path in clips_dir.glob("clips-*.npz*"):
            path.unlink()
        found = {}
    elif found:
        keys = [key for key in manifest if key not in ("shards", "complete")]
        changed = [key for key in keys if found.get(key) != manifest[key]]
        if changed:
            raise DataError(
                f"{clips_dir}: holds clips made with other settings ({', '.join(changed)} "
                "differ); pass -o/--overwrite to replace them or choose another -c/--clips_dir"
            )
        return
    elif any(clips_dir.glob("clips-*.npz")):
        raise DataError(
            f"{clips_dir}: holds shards but no {MANIFEST}; pass -o/--overwrite to replace them"
        )
    files.write_json(clips_dir / MANIFEST, manifest)


def _run(tasks, workers):
    """Yield (shard file, CPU seconds) as shards finish, in a pool when workers > 1."""
    if workers <= 1:
        yield from map(_make_shard, tasks)
        return
    # forkserver, not fork: the caller may have TensorFlow's threads running (a notebook). The
    # server imports this module once, so each worker starts without importing it again.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    # Workers must end with this process, even when it is killed (SIGKILL): each watches a pipe
    # whose only write end is held here, which the OS closes when this process ends. (A worker's
    # parent is the forkserver, which lives as long as any worker, so it cannot tell them.)
    watch, alive = context.Pipe(duplex=False)
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_end_with_main, initargs=(watch,)
    )
    with alive, watch, pool:  # closed in reverse order: the pool shuts down first
        try:
            yield from pool.map(_make_shard, tasks, chunksize=1)
        except BrokenProcessPool:
            raise AvgkitError(
                "a worker process stopped before finishing its shard (out of memory, killed, or "
                "started from a script without `if __name__ == '__main__':` around the call); "
                "finished shards are kept; rerun, or pass --workers 1"
            ) from None


def _end_with_main(watch) -> None:
    """Pool initializer: end this worker once the main process has ended. `watch` is the read end
    of a pipe written by the main process only, and never written: it is at end-of-file then."""

    def wait_then_exit():
        watch.poll(None)  # blocks until end-of-file
        os._exit(1)

    threading.Thread(target=wait_then_exit, daemon=True).start()


def _make_shard(task) -> tuple[str, float]:
    """Cut, compress and write one shard; returns its file name and the CPU seconds it took."""
    started = time.process_time()
    video, shard, seed, spec, clips_dir, shape = task
    starts = shard["starts"]
    needed = np.unique(starts[:, None] + np.arange(spec.clip_frames))
    frames = read_video(video, needed, shape)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1, shard["video"], shard["part"]]))
    clips, scores, _ = crop_clips(frames, np.searchsorted(needed, starts), rng, spec)
    final = clips_dir / shard["file"]
    tmp = final.with_name(final.name + ".tmp")
    _save_npz(tmp, clips=clips, scores=scores.astype(np.float32))
    tmp.replace(final)
    return shard["file"], time.process_time() - started


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    """`np.savez_compressed` at deflate level 3: 3x faster than its level 6, 2x the size."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=3) as archive:
        for name, array in arrays.items():
            with archive.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(array))


def _passed(path: Path, threshold: float) -> int:
    """How many clips of a shard beat the movement threshold (reads only its scores)."""
    with np.load(path) as shard:
        return int(np.sum(shard["scores"] > threshold))


def _read_manifest(clips_dir: Path) -> dict:
    path = clips_dir / MANIFEST
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON ({error}); pass -o/--overwrite") from None
