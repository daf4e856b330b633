"""`tf.data` input: training batches from clip shards or from online random crops, and full-frame
test sequences.

Models see float32 in [-1, 1] with the frames of a clip stacked on the channel axis:
a training batch is (batch, crop, crop, 3 * (hist_len + 1)); `split_clip` separates the
3 * hist_len input channels from the 3 target channels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from avgkit.data import actions as actions_lib
from avgkit.data import clips as clips_lib
from avgkit.data.frames import list_videos, read_video, to_uint8  # noqa: F401 (re-export)
from avgkit.errors import DataError


def to_unit(images):
    """uint8 [0, 255] -> float32 [-1, 1] (numpy or tensor)."""
    if isinstance(images, np.ndarray):
        return images.astype(np.float32) / 127.5 - 1.0
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def split_clip(clip, hist_len: int):
    """Split clips (..., H, W, 3 * (hist_len + 1)) into inputs and target.

    Inputs: (..., H, W, 3 * hist_len), the input frames in time order; target: (..., H, W, 3).
    """
    return clip[..., : 3 * hist_len], clip[..., 3 * hist_len :]


def shard_dataset(
    clips_dir: str | Path,
    batch_size: int,
    seed: int = 0,
    shuffle_buffer: int = 16384,
    cycle_length: int = 8,
) -> tf.data.Dataset:
    """Endless shuffled batches from the shards of `avgkit process`.

    Yields float32 (batch_size, crop, crop, 3 * clip_length) in [-1, 1] (clip_length is
    hist_len + 1 unless cut longer). Shards are read `cycle_length` at a time, interleaved clip
    by clip, then shuffled; deterministic for a seed.
    Each shard read is checked against the manifest (`clips.read_shard`).
    """
    manifest = clips_lib.read_manifest(clips_dir)
    count = len(manifest["shards"])
    length = manifest.get("clip_length", manifest["hist_len"] + 1)  # older manifests: 5
    size, channels = manifest["crop_size"], 3 * length

    def read(index):
        shard = tf.numpy_function(
            lambda i: clips_lib.read_shard(clips_dir, manifest, int(i)), [index], tf.uint8
        )
        return tf.data.Dataset.from_tensor_slices(
            tf.ensure_shape(shard, [None, size, size, channels])
        )

    return (
        tf.data.Dataset.range(count)
        .shuffle(count, seed=seed)
        .repeat()
        .interleave(
            read,
            cycle_length=min(cycle_length, count),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        .shuffle(min(shuffle_buffer, manifest["num_clips"]), seed=seed + 1)
        .batch(batch_size, drop_remainder=True)
        .map(to_unit, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def online_dataset(
    train_dir: str | Path,
    batch_size: int,
    seed: int = 0,
    spec: clips_lib.ClipSpec = clips_lib.ClipSpec(),
) -> tf.data.Dataset:
    """Endless batches of clips cropped on the fly from the frames in `train_dir` (no shards).

    Same clip rule and output as `shard_dataset`; all frames are held in memory, so this suits
    small frame sets (a quick experiment, a notebook).
    """
    videos, _ = list_videos(train_dir, min_frames=spec.clip_frames)
    if not videos:
        raise DataError(f"{train_dir}: no video has the {spec.clip_frames} frames a clip needs")
    frames = [read_video(video) for video in videos]

    def batches():
        rng = np.random.default_rng(seed)
        while True:
            picks = rng.integers(0, len(frames), batch_size)
            batch = []
            for index in np.unique(picks):
                video = frames[index]
                starts = rng.integers(0, len(video) - spec.clip_frames + 1, np.sum(picks == index))
                batch.append(clips_lib.crop_clips(video, starts, rng, spec)[0])
            yield np.concatenate(batch)[rng.permutation(batch_size)]

    channels = 3 * spec.clip_frames
    signature = tf.TensorSpec([batch_size, spec.crop_size, spec.crop_size, channels], tf.uint8)
    return (
        tf.data.Dataset.from_generator(batches, output_signature=signature)
        .map(to_unit)
        .prefetch(tf.data.AUTOTUNE)
    )


def test_sequences(
    test_dir: str | Path, hist_len: int, recursions: int, per_video: int = 1
) -> tuple[np.ndarray, list[str]]:
    """Full-frame test sequences: `hist_len` inputs followed by `recursions` targets.

    Takes up to `per_video` non-overlapping sequences from the start of each video in `test_dir`.
    Returns uint8 (sequences, hist_len + recursions, H, W, 3) and the name of each sequence's
    video. All test videos must share one frame size.
    """
    length = hist_len + recursions
    sequences, names = [], []
    for video, count in _test_windows(test_dir, hist_len, recursions, per_video):
        frames = read_video(video, range(count * length))
        if sequences and frames.shape[1:] != sequences[0].shape[2:]:
            raise DataError(
                f"{video.path}: frames are {frames.shape[2]}x{frames.shape[1]}, but earlier test "
                f"videos are {sequences[0].shape[3]}x{sequences[0].shape[2]}; test videos must "
                "share one size (import them with --resize)"
            )
        sequences.append(frames.reshape(count, length, *frames.shape[1:]))
        names += [video.name] * count
    return np.concatenate(sequences), names


def test_actions(
    test_dir: str | Path, hist_len: int, recursions: int, action_set, per_video: int = 1
) -> np.ndarray:
    """The actions of `test_sequences`' sequences (the same windows, in the same order): uint8
    (sequences, hist_len + recursions), each frame's action as an index into `action_set` (a
    model's `config.actions`), read from each test video's actions.csv
    (`avgkit.data.actions.read`). DataError naming the first test video without one: an
    action-conditioned model cannot be scored on frames without actions."""
    length = hist_len + recursions
    found = []
    for video, count in _test_windows(test_dir, hist_len, recursions, per_video):
        if video.actions is None:
            raise DataError(
                f"-t/--test_dir {test_dir}: {video.path} has no {actions_lib.FILE}; a model "
                "trained with --actions predicts from the player's actions, so its test videos "
                "need them (record them with `avgkit record`)"
            )
        actions = actions_lib.read(video, action_set)[: count * length]
        found.append(actions.reshape(count, length))
    return np.concatenate(found)


def _test_windows(test_dir, hist_len: int, recursions: int, per_video: int):
    """(video, number of sequences) for each test video long enough for a sequence of
    hist_len + recursions frames: min(per_video, frames // length) from its start."""
    if recursions < 1:
        raise DataError(f"-r/--recursions {recursions}: expected 1 or more predicted frames")
    length = hist_len + recursions
    videos, too_short = list_videos(test_dir, min_frames=length)
    if not videos:
        longest = max(len(video) for video in too_short)
        raise DataError(
            f"{test_dir}: no test video has the {length} frames that {hist_len} inputs + "
            f"{recursions} recursions need (the longest has {longest})"
        )
    return [(video, min(per_video, len(video) // length)) for video in videos]


def stack_frames(frames):
    """(..., time, H, W, 3) -> (..., H, W, 3 * time), frames in time order on the channel axis."""
    frames = np.asarray(frames)
    moved = np.moveaxis(frames, -4, -2)  # (..., H, W, time, 3)
    return moved.reshape(*moved.shape[:-2], -1)
