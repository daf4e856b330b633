"""Training clips: random crops of HIST_LEN + 1 consecutive frames, kept if they move.

The rule is the TF1 implementation's (REFERENCE.md): pick a random video and a random run of
HIST_LEN + 1 consecutive frames; with probability 0.05 keep the first random 32x32 crop; otherwise
try up to 100 crops and keep the first whose movement score (the sum over the HIST_LEN consecutive
frame pairs of the summed squared difference, in [-1, 1] units) exceeds 100, or the last one tried.

What differs is the speed and the storage: each frame is decoded once, the score of every crop
position comes from one integral image per run of frames, and clips are stored as uint8 in
compressed shards of `shard_size` clips (`clips-<video>-<part>.npz`, array `clips` of shape
(n, crop, crop, 3 * clip_length), clip_length HIST_LEN + 1 unless cut longer for rollouts)
described by `manifest.json`.

Actions: when the videos have the player's actions (`actions.csv`, `avgkit.data.actions`), each
shard also holds `actions`, uint8 (n, clip_length), the action of every frame of each clip
(indices into the action set, which the manifest lists under "actions"; null without them),
cut from the same start frames as the clips. Videos either all have actions or none do.

The manifest records each shard's number of clips, size and SHA-256, and every read of a shard
for training checks them (`read_shard`: the hash is of the bytes read, so the file is read once).
Measured on the study's shards (1.3 MB each, 63 MB of clips; an Intel Xeon with SHA extensions):
0.8 ms to hash a shard against 54 ms to decompress it, 2%, in the thread that prefetches blocks.
A rerun of `process` on a folder checks every shard the same way and remakes the damaged or
missing ones, byte for byte as an uninterrupted run makes them. A manifest written before the
checksums (or by a run stopped before its end) records none: its shards are checked by reading
them whole (zip's CRC-32 of each array), and the next `process` run records them.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import io
import multiprocessing
import os
import shlex
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
from avgkit.data import actions as actions_lib
from avgkit.data.frames import Video, check_frame_sizes, list_videos, read_video
from avgkit.errors import AvgkitError, ConfigError, DataError

MANIFEST = "manifest.json"
FORMAT = "avgkit-clips-1"
PIXEL_SCALE = 127.5  # uint8 difference -> [-1, 1] difference
SHARD_SPAN = 1000  # frames one shard may draw from, so a worker decodes at most ~1000 frames
RUNS_AT_ONCE = 128  # movement tables held in memory at once (about 35 MB at 210x160)


@dataclasses.dataclass(frozen=True)
class ClipSpec:
    """How clips are cut (TF1 constants; see `avgkit.config`). `clip_length`: frames a clip
    holds, hist_len + 1 (the paper's) or more for training on rollouts (`Config.curriculum`);
    the movement filter looks at the first hist_len + 1 of them either way, so the one-step
    part of a longer clip is cut by the same rule as a one-step clip."""

    hist_len: int = config.HIST_LEN
    crop_size: int = config.CROP_SIZE
    threshold: float = config.MOVEMENT_THRESHOLD
    max_tries: int = config.MOVEMENT_MAX_TRIES
    take_first_prob: float = config.TAKE_FIRST_PROB
    clip_length: int | None = None  # None: hist_len + 1

    @property
    def clip_frames(self) -> int:
        return self.hist_len + 1 if self.clip_length is None else self.clip_length


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
    remade: int  # shards finished earlier but found damaged or missing, made again
    too_short: list[str]
    ignored_files: int
    actions: list[str] | None = None  # the action set, if the clips keep the player's actions

    def line(self) -> str:
        rate = self.made / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{self.num_clips} clips in {self.shards} shards, {self.bytes / 1e6:.1f} MB "
            f"({self.bytes / max(self.num_clips, 1):.0f} bytes/clip) at {self.clips_dir}; "
            f"{self.made} made in {self.seconds:.1f} s ({rate:.0f} clips/s); "
            f"{self.passed / max(self.num_clips, 1):.1%} passed the movement filter; "
            f"{self.ignored_files} non-image files ignored"
            + (f"; with the player's actions ({len(self.actions)})" if self.actions else "")
            + (f"; damaged or missing shards remade: {self.remade}" if self.remade else "")
        )


def movement_score(clip: np.ndarray, hist_len: int = config.HIST_LEN) -> float:
    """TF1's movement score of one clip, uint8 (h, w, 3 * (hist_len + 1)), in [-1, 1] units."""
    frames = clip.astype(np.float64).reshape(*clip.shape[:2], hist_len + 1, 3) / PIXEL_SCALE
    return float(np.sum(np.square(np.diff(frames, axis=2))))


def crop_clips(
    frames: np.ndarray, starts: np.ndarray, rng: np.random.Generator, spec: ClipSpec = ClipSpec()
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut one clip per entry of `starts` from `frames`, uint8 (time, H, W, 3).

    Clip i uses frames `starts[i] : starts[i] + clip_frames`, its crop chosen on the first
    hist_len + 1 of them. Returns `(clips, scores, unfiltered)`: uint8 (n, crop, crop,
    3 * clip_frames), the movement score of each kept crop (float64, [-1, 1] units), and whether
    it was one of the 5% kept without the filter.
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
    are written under a temporary name and renamed, and a rerun checks the shards there against
    the manifest (`_kept`), keeps the intact ones and makes the others, naming each damaged one.
    """
    if num_clips < 1:
        raise ConfigError(f"-n/--num_clips {num_clips}: expected a positive number of clips")
    if shard_size < 1:
        raise ConfigError(f"shard_size {shard_size}: expected a positive number of clips")
    if spec.clip_frames < spec.hist_len + 1:
        raise ConfigError(
            f"--clip_length {spec.clip_frames}: expected at least hist_len + 1 = "
            f"{spec.hist_len + 1} frames (the input frames and one to predict)"
        )
    started, cpu_started = time.perf_counter(), time.process_time()
    train_dir, clips_dir = Path(train_dir), Path(clips_dir)
    videos, too_short = list_videos(train_dir, min_frames=spec.clip_frames)
    for video in too_short:
        tqdm.write(
            f"warning: {video.path}: {len(video)} frames, fewer than the {spec.clip_frames} a clip "
            "needs; skipped"
        )
    if not videos:
        raise DataError(f"{train_dir}: no video has the {spec.clip_frames} frames a clip needs")
    names, actions = _video_actions(train_dir, videos)
    plan = _plan(videos, num_clips, seed, shard_size, spec)
    manifest = _manifest(train_dir, videos, num_clips, seed, shard_size, spec, plan, names)
    found = _prepare(clips_dir, manifest, overwrite)
    shapes = [_frame_shape(video, spec) for video in videos]
    checksums, remade = _kept(clips_dir, found, manifest["shards"])
    todo = [task for task in plan if task["file"] not in checksums]
    tasks = [
        (videos[t["video"]], t, seed, spec, clips_dir, shapes[t["video"]], actions[t["video"]])
        for t in todo
    ]
    sizes = {t["file"]: t["clips"] for t in todo}
    worker_seconds = 0.0
    if workers is None:  # a worker process costs about a second to start: worth ~20k clips
        workers = min(os.cpu_count() or 1, max(1, sum(sizes.values()) // 20_000))
    workers = min(workers, max(len(tasks), 1))
    with tqdm(total=sum(sizes.values()), desc="process", unit="clip", disable=not progress) as bar:
        for file, seconds, sums in _run(tasks, workers):
            bar.update(sizes[file])
            worker_seconds += seconds if workers > 1 else 0.0  # else counted in ours
            checksums[file] = sums
    for shard in manifest["shards"]:
        shard.update(checksums[shard["file"]])
    manifest["complete"] = True
    files.write_json(clips_dir / MANIFEST, manifest)
    return Summary(
        clips_dir=clips_dir,
        num_clips=num_clips,
        shards=len(plan),
        bytes=sum(shard["bytes"] for shard in manifest["shards"]),
        seconds=time.perf_counter() - started,
        cpu_seconds=time.process_time() - cpu_started + worker_seconds,
        passed=sum(_passed(clips_dir / t["file"], spec.threshold) for t in plan),
        made=sum(sizes.values()),
        remade=remade,
        too_short=[str(video.path) for video in too_short],
        ignored_files=sum(len(video.ignored) for video in videos + too_short),
        actions=manifest["actions"],
    )


def read_manifest(clips_dir: str | Path) -> dict:
    """The manifest of a finished clips folder; DataError if there is none, it is incomplete or
    it names a shard twice."""
    clips_dir = Path(clips_dir)
    manifest = _read_manifest(clips_dir)
    if not manifest:
        raise DataError(f"{clips_dir}: no {MANIFEST}; make clips with `avgkit process` first")
    if not manifest.get("complete"):
        raise DataError(
            f"{clips_dir}: processing did not finish; rerun `{remake_command(clips_dir, manifest)}`"
        )
    counts = collections.Counter(shard["file"] for shard in manifest["shards"])
    twice = [name for name, count in counts.items() if count > 1]
    if twice:
        raise DataError(
            f"{clips_dir / MANIFEST}: names {twice[0]} twice; rewrite it with "
            f"`{remake_command(clips_dir, manifest)}`"
        )
    return manifest


def is_finished(clips_dir: str | Path) -> bool:
    """Whether `clips_dir` holds a finished clips folder (its shards are not checked here)."""
    return bool(_read_manifest(Path(clips_dir)).get("complete"))


def read_shard(clips_dir: str | Path, manifest: dict, index: int, actions: bool = False):
    """The clips of shard `index` of `manifest` (and their actions), checked against it
    (`load_shard`); a damaged shard is a DataError naming it and the command that remakes it."""
    entry = manifest["shards"][index]
    try:
        return load_shard(Path(clips_dir) / entry["file"], entry, actions)
    except DataError as error:
        raise DataError(
            f"{error}; remake it with `{remake_command(clips_dir, manifest)}`"
        ) from None


def most_moving(clips_dir: str | Path, manifest: dict, index: int, count: int) -> np.ndarray:
    """The rows of the `count` clips of shard `index` that move most (the highest movement
    scores, `movement_score`), in shard order: int (min(count, clips in the shard),)."""
    with np.load(Path(clips_dir) / manifest["shards"][index]["file"]) as shard:
        scores = shard["scores"]
    return np.sort(np.argsort(-scores, kind="stable")[:count])


def load_shard(path: str | Path, entry: dict | None = None, actions: bool = False):
    """The clips of one shard, uint8 (n, crop, crop, 3 * clip_length); with `actions`, the pair
    (clips, actions), actions uint8 (n, clip_length), the action of every frame of each clip.

    entry: the shard's manifest entry; the file's size and SHA-256 (of the bytes read: one read)
    must be those it records, if it records them, and its number of clips the entry's. DataError
    saying what differs, that the shard does not read, or that it holds no actions.
    """
    path, entry = Path(path), entry or {}
    arrays = _decode(path, _checked(path, _read_bytes(path), entry), entry)
    if not actions:
        return arrays["clips"]
    if "actions" not in arrays:
        raise DataError(f"{path}: holds no actions (no array `actions`)")
    return arrays["clips"], arrays["actions"]


def action_set(clips_dir: str | Path, manifest: dict | None = None) -> tuple[str, ...]:
    """The action set of the clips in `clips_dir` (its manifest's "actions"); DataError for
    `--actions` if they have none."""
    names = (manifest or read_manifest(clips_dir)).get("actions")
    if not names:
        raise DataError(
            f"--actions: the clips in {clips_dir} have no actions (their frame folders have no "
            "actions.csv); record frames with `avgkit record`, cut clips from them with "
            "`avgkit process`, or train without --actions"
        )
    return tuple(names)


def checksum(data: bytes) -> dict:
    """What the manifest records of a shard's bytes: {"bytes": size, "sha256": hex digest}."""
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def remake_command(clips_dir: str | Path, manifest: dict) -> str:
    """The `avgkit process` command that completes or repairs `clips_dir`, from its manifest."""
    command = ["avgkit", "process", "-t", manifest["source"], "-c", str(clips_dir)]
    command += ["-n", str(manifest["num_clips"])]
    command += ["--seed", str(manifest["seed"])] if manifest["seed"] else []
    length = manifest.get("clip_length", manifest["hist_len"] + 1)
    command += ["--clip_length", str(length)] if length != manifest["hist_len"] + 1 else []
    return shlex.join(command)


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


def _video_actions(train_dir: Path, videos: list[Video]):
    """The action set and each video's actions (uint8 (frames,), `actions.read`); (None, a None
    per video) when no video has an actions.csv. DataError if only some have one, or if there is
    no action set (recording.json beside train_dir) to read them with."""
    having = [video for video in videos if video.actions is not None]
    if not having:
        return None, [None] * len(videos)
    lacking = [video for video in videos if video.actions is None]
    if lacking:
        raise DataError(
            f"{lacking[0].path}: no {actions_lib.FILE}, but {having[0].actions} is there; clips "
            f"keep actions only if every video has them (or none: delete the {actions_lib.FILE} "
            "files to cut clips without actions)"
        )
    names = actions_lib.action_set(train_dir)
    if not names:
        raise DataError(
            f'{having[0].actions}: no action set to read it with; expected "actions": [names, '
            f"in the game's order] in {train_dir.parent / actions_lib.RECORDING}"
        )
    return names, [actions_lib.read(video, names) for video in videos]


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


def _manifest(train_dir, videos, num_clips, seed, shard_size, spec, plan, names) -> dict:
    """The manifest of a clips folder (names: the action set, or None without actions)."""
    return {
        "format": FORMAT,
        "num_clips": num_clips,
        "crop_size": spec.crop_size,
        "hist_len": spec.hist_len,
        "clip_length": spec.clip_frames,
        "actions": None if names is None else list(names),
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


def _prepare(clips_dir: Path, manifest: dict, overwrite: bool) -> dict:
    """Start a clips folder, or check that the one there was made with the same settings.
    Returns the manifest found there ({} if none or overwritten)."""
    clips_dir.mkdir(parents=True, exist_ok=True)
    found = _read_manifest(clips_dir)
    if overwrite:
        for path in clips_dir.glob("clips-*.npz*"):
            path.unlink()
        found = {}
    elif found:
        keys = [key for key in manifest if key not in ("shards", "complete")]
        found = {"clip_length": found.get("hist_len", 0) + 1, **found}  # older manifests
        changed = [key for key in keys if found.get(key) != manifest[key]]
        if changed:
            raise DataError(
                f"{clips_dir}: holds clips made with other settings ({', '.join(changed)} "
                "differ); pass -o/--overwrite to replace them or choose another -c/--clips_dir"
            )
        return found
    elif any(clips_dir.glob("clips-*.npz")):
        raise DataError(
            f"{clips_dir}: holds shards but no {MANIFEST}; pass -o/--overwrite to replace them"
        )
    files.write_json(clips_dir / MANIFEST, manifest)
    return found


def _kept(clips_dir: Path, found: dict, shards: list[dict]) -> tuple[dict, int]:
    """The shards of `shards` already in `clips_dir` and intact: {file: checksum}, and how many
    shards `found` (the manifest there) lists as finished but are missing or damaged. A shard
    is intact if it has the size and SHA-256 that `found` records for it, or, where it records
    none (an older manifest, a run stopped midway), if it reads whole with its number of clips.
    Each damaged or lost shard is named in a warning."""
    recorded = {shard["file"]: shard for shard in found.get("shards", [])}
    kept, remade = {}, 0
    for shard in shards:
        path, entry = clips_dir / shard["file"], recorded.get(shard["file"], {})
        finished = "sha256" in entry or found.get("complete") or path.exists()
        try:
            data = _checked(path, _read_bytes(path), entry)
            if "sha256" not in entry:
                _decode(path, data, shard)
            kept[shard["file"]] = checksum(data)
        except DataError as error:
            if finished:
                tqdm.write(f"warning: {error}; made again")
                remade += 1
    return kept, remade


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: missing") from None
    except OSError as error:
        raise DataError(f"{path}: not readable ({error.strerror})") from None


def _checked(path: Path, data: bytes, entry: dict) -> bytes:
    """`data`, the bytes of shard `path`, if they have the size and SHA-256 that its manifest
    entry records (anything passes an entry that records none); else DataError saying how they
    differ."""
    if "sha256" not in entry or checksum(data) == {k: entry[k] for k in ("bytes", "sha256")}:
        return data
    if len(data) != entry["bytes"]:
        raise DataError(f"{path}: {len(data)} bytes; its manifest records {entry['bytes']}")
    raise DataError(f"{path}: its SHA-256 is not the one its manifest records (bytes changed)")


def _decode(path: Path, data: bytes, entry: dict) -> dict[str, np.ndarray]:
    """The arrays in the bytes of shard `path` by name: "clips", uint8 (n, crop, crop, c), and
    "actions" if it has them, uint8 (n, c / 3), after reading every array whole (zip checks each
    one's CRC-32); DataError if they do not read, are not the number of clips its manifest entry
    says, or the actions are not one per frame of each clip."""
    try:
        with np.load(io.BytesIO(data)) as shard:
            arrays = {name: shard[name] for name in shard.files}
    except files.NPZ_ERRORS as error:
        raise DataError(f"{path}: not a readable clips shard ({error})") from None
    if "clips" not in arrays:
        raise DataError(f"{path}: not a clips shard (no array `clips`)")
    clips = arrays["clips"]
    if "clips" in entry and len(clips) != entry["clips"]:
        raise DataError(f"{path}: holds {len(clips)} clips; its manifest says {entry['clips']}")
    expected = (len(clips), clips.shape[-1] // 3)
    if "actions" in arrays and arrays["actions"].shape != expected:
        raise DataError(
            f"{path}: holds actions of shape {arrays['actions'].shape}; expected {expected}, "
            "one per frame of each clip"
        )
    return arrays


def _run(tasks, workers):
    """Yield (shard file, CPU seconds, checksum) as shards finish, in a pool when workers > 1."""
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


def _make_shard(task) -> tuple[str, float, dict]:
    """Cut, compress and write one shard; returns its file name, the CPU seconds it took and the
    checksum of its bytes."""
    started = time.process_time()
    video, shard, seed, spec, clips_dir, shape, actions = task
    starts = shard["starts"]
    runs = starts[:, None] + np.arange(spec.clip_frames)
    needed = np.unique(runs)
    frames = read_video(video, needed, shape)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1, shard["video"], shard["part"]]))
    clips, scores, _ = crop_clips(frames, np.searchsorted(needed, starts), rng, spec)
    final = clips_dir / shard["file"]
    tmp = final.with_name(final.name + ".tmp")
    arrays = {"clips": clips, "scores": scores.astype(np.float32)}
    data = _npz_bytes(**arrays, **({} if actions is None else {"actions": actions[runs]}))
    tmp.write_bytes(data)
    tmp.replace(final)
    return shard["file"], time.process_time() - started, checksum(data)


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    """The bytes of `np.savez_compressed` at deflate level 3 (3x faster than its level 6, 2x the
    size); the same arrays always give the same bytes (every member dated 1980-01-01)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=3) as archive:
        for name, array in arrays.items():
            with archive.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(array))
    return buffer.getvalue()


def _passed(path: Path, threshold: float) -> int:
    """How many clips of a shard beat the movement threshold (reads only its scores)."""
    with np.load(path) as shard:
        return int(np.sum(shard["scores"] > threshold))


def _read_manifest(clips_dir: Path) -> dict:
    path = clips_dir / MANIFEST
    return files.read_json(path, "pass -o/--overwrite") if path.exists() else {}
