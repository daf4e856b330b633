"""tf.data input: batches from shards, online crops, and full-frame test sequences."""

import numpy as np
import pytest

from avgkit.data import clips, frames, pipeline
from avgkit.errors import DataError
from conftest import write_actions, write_video


@pytest.fixture
def clips_dir(frame_root):
    out = frame_root / "clips"
    clips.process(frame_root / "Train", out, 300, seed=0, shard_size=40, workers=1, progress=False)
    return out


def test_shard_batches_hold_the_stored_clips(clips_dir):
    manifest = clips.read_manifest(clips_dir)
    shard_of = {
        clip.tobytes(): index
        for index, shard in enumerate(manifest["shards"])
        for clip in clips.load_shard(clips_dir / shard["file"])
    }
    batches = list(pipeline.shard_dataset(clips_dir, batch_size=8, seed=1).take(50))
    for batch in batches:
        assert batch.shape == (8, 32, 32, 15) and batch.dtype.name == "float32"
        values = batch.numpy()
        assert values.min() >= -1 and values.max() <= 1
        assert all(frames.to_uint8(clip).tobytes() in shard_of for clip in values)
    first = {shard_of[frames.to_uint8(c).tobytes()] for b in batches[:3] for c in b.numpy()}
    assert len(first) >= len(manifest["shards"]) // 2  # the first 24 clips mix many shards


def test_shard_batches_repeat_for_a_seed(clips_dir):
    first = [b.numpy() for b in pipeline.shard_dataset(clips_dir, 8, seed=4).take(5)]
    again = [b.numpy() for b in pipeline.shard_dataset(clips_dir, 8, seed=4).take(5)]
    other = [b.numpy() for b in pipeline.shard_dataset(clips_dir, 8, seed=5).take(5)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_split_clip():
    clip = np.arange(2 * 3 * 3 * 15).reshape(2, 3, 3, 15)
    inputs, target = pipeline.split_clip(clip, 4)
    assert np.array_equal(inputs, clip[..., :12]) and np.array_equal(target, clip[..., 12:])


def test_online_batches_are_crops_of_the_frames(frame_root):
    videos = [frames.read_video(v) for v in frames.list_videos(frame_root / "Train")[0]]
    batch = next(iter(pipeline.online_dataset(frame_root / "Train", batch_size=6, seed=0)))
    assert batch.shape == (6, 32, 32, 15)
    for clip in frames.to_uint8(batch.numpy()):
        stacked = [np.concatenate(list(v[t : t + 5]), -1) for v in videos for t in range(8)]
        assert any(
            np.array_equal(s[y : y + 32, x : x + 32], clip)
            for s in stacked
            for y in range(17)
            for x in range(33)
        )


def test_test_sequences_are_the_first_frames(frame_root):
    sequences, names = pipeline.test_sequences(frame_root / "Test", hist_len=4, recursions=3)
    video = frames.read_video(frames.list_videos(frame_root / "Test")[0][0])
    assert sequences.shape == (1, 7, 48, 64, 3) and names == ["video3"]
    assert np.array_equal(sequences[0], video[:7])
    two, _ = pipeline.test_sequences(frame_root / "Test", 4, 3, per_video=2)
    assert np.array_equal(two[1], video[7:14])


def test_test_actions_are_those_of_the_same_windows(frame_root):
    write_video(frame_root / "Test" / "video4", 20, seed=4)
    written = write_actions(frame_root)
    reordered = ("DOWN", "LEFT", "RIGHT", "UP", "NOOP")  # a model's own order of the names
    actions = pipeline.test_actions(frame_root / "Test", 4, 3, reordered, per_video=2)
    _, names = pipeline.test_sequences(frame_root / "Test", 4, 3, per_video=2)
    assert names == ["video3", "video3", "video4", "video4"] and actions.shape == (4, 7)
    assert actions.dtype == np.uint8
    for row, (video, first) in zip(actions, [("video3", 0), ("video3", 7), ("video4", 0),
                                             ("video4", 7)]):  # fmt: skip
        assert [reordered[i] for i in row] == written[video][first : first + 7]
    (frame_root / "Test" / "video4" / "actions.csv").unlink()
    with pytest.raises(DataError, match=r"video4 has no actions.csv; a model trained with --act"):
        pipeline.test_actions(frame_root / "Test", 4, 3, reordered)


def test_too_few_test_frames_for_the_horizon(frame_root):
    with pytest.raises(DataError, match="no test video has the 68 frames .* longest has 14"):
        pipeline.test_sequences(frame_root / "Test", hist_len=4, recursions=64)
    with pytest.raises(DataError, match="-r/--recursions 0"):
        pipeline.test_sequences(frame_root / "Test", hist_len=4, recursions=0)


def test_stack_frames_puts_time_on_channels():
    frames_in_time = np.random.default_rng(0).integers(0, 255, (2, 5, 4, 6, 3))
    stacked = pipeline.stack_frames(frames_in_time)
    assert stacked.shape == (2, 4, 6, 15)
    for t in range(5):
        assert np.array_equal(stacked[..., 3 * t : 3 * t + 3], frames_in_time[:, t])


def test_unit_scaling_round_trips():
    values = np.arange(256, dtype=np.uint8)
    unit = pipeline.to_unit(values)
    assert unit.min() == -1 and unit.max() == 1
    assert np.array_equal(frames.to_uint8(unit), values)
