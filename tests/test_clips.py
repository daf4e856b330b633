"""Cutting clips: the TF1 movement rule, shards, manifest, determinism, resume, bad input."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from avgkit import cli
from avgkit.data import clips, frames
from avgkit.errors import ConfigError, DataError
from conftest import ACTION_SET, frame_indices, write_actions, write_indexed_video, write_video


def tf1_movement(crop: np.ndarray) -> float:
    """The TF1 formula, written out: frames scaled to [-1, 1], pair by pair, in float64."""
    unit = crop.astype(np.float64) / 255 * 2 - 1
    total = 0.0
    for i in range(4):
        total += np.sum(
            np.square(unit[..., 3 * (i + 1) : 3 * (i + 2)] - unit[..., 3 * i : 3 * (i + 1)])
        )
    return total


def find_crop(video: np.ndarray, clip: np.ndarray, size: int = 32):
    """(start, y, x) of every place in `video` whose 5-frame crop equals `clip`."""
    stacked = np.concatenate([video[:-4], video[1:-3], video[2:-2], video[3:-1], video[4:]], -1)
    return [
        (t, y, x)
        for t in range(len(stacked))
        for y in range(video.shape[1] - size + 1)
        for x in range(video.shape[2] - size + 1)
        if np.array_equal(stacked[t, y : y + size, x : x + size], clip)
    ]


def test_movement_score_matches_the_tf1_formula():
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 256, (32, 32, 15), dtype=np.uint8)
    assert clips.movement_score(clip) == pytest.approx(tf1_movement(clip), rel=1e-12)


def test_clips_are_real_crops_with_their_scores(frame_root):
    video = frames.read_video(frames.list_videos(frame_root / "Train")[0][0])
    starts = np.array([0, 0, 3, 7])
    cut, scores, _ = clips.crop_clips(video, starts, np.random.default_rng(1))
    assert cut.shape == (4, 32, 32, 15) and cut.dtype == np.uint8
    for clip, start, score in zip(cut, starts, scores):
        assert start in [t for t, _, _ in find_crop(video, clip)]
        assert score == pytest.approx(tf1_movement(clip), rel=1e-9)


def test_filter_keeps_moving_crops(frame_root):
    """A 10 px square moves over a static background: only some crops move."""
    video = frames.read_video(frames.list_videos(frame_root / "Train")[0][0])
    rng = np.random.default_rng(2)
    starts = rng.integers(0, len(video) - 4, 2000)
    cut, scores, unfiltered = clips.crop_clips(video, starts, rng)
    threshold = clips.ClipSpec().threshold
    raw = clips.crop_clips(video, starts, rng, clips.ClipSpec(take_first_prob=1.0))[1]
    assert 0.2 < np.mean(raw > threshold) < 0.9  # random crops: some move, some do not
    assert np.all(scores[~unfiltered] > threshold)  # filtered clips all move
    assert 0.03 < unfiltered.mean() < 0.07  # 5% skip the filter (binomial, n = 2000)
    assert np.mean(scores[unfiltered] > threshold) < 0.9


def test_still_video_gives_clips_after_100_tries(tmp_path):
    still = np.full((6, 40, 40, 3), 90, np.uint8)
    cut, scores, _ = clips.crop_clips(still, np.zeros(5, int), np.random.default_rng(0))
    assert cut.shape == (5, 32, 32, 15) and np.all(scores == 0)


def test_process_writes_shards_and_manifest(frame_root):
    out = frame_root / "clips"
    summary = clips.process(
        frame_root / "Train", out, 300, seed=3, shard_size=64, workers=1, progress=False
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and manifest["num_clips"] == 300
    assert (manifest["crop_size"], manifest["hist_len"], manifest["seed"]) == (32, 4, 3)
    assert manifest["source"] == str((frame_root / "Train").resolve())
    shards = [clips.load_shard(out / s["file"]) for s in manifest["shards"]]
    assert [len(s) for s in shards] == [s["clips"] for s in manifest["shards"]]
    assert sum(len(s) for s in shards) == 300 and all(len(s) <= 64 for s in shards)
    assert all(s.dtype == np.uint8 and s.shape[1:] == (32, 32, 15) for s in shards)
    assert summary.shards == len(shards) and summary.made == 300
    assert summary.bytes == sum((out / s["file"]).stat().st_size for s in manifest["shards"])
    videos = [frames.read_video(v) for v in frames.list_videos(frame_root / "Train")[0]]
    for clip in shards[0][:3]:  # every clip is a real crop of a training video
        assert any(find_crop(video, clip) for video in videos)


def test_the_fixed_batch_is_the_first_shards_most_moving_clips(frame_root):
    from avgkit import config, train  # TensorFlow: only this test needs it

    out = frame_root / "clips"
    clips.process(frame_root / "Train", out, 100, seed=3, shard_size=64, progress=False)
    first = clips.load_shard(
        out / json.loads((out / "manifest.json").read_text())["shards"][0]["file"]
    )
    moves = [tf1_movement(clip) for clip in first]
    rows = sorted(np.argsort(moves)[-4:])  # the four highest scores, in shard order
    assert min(moves[r] for r in rows) > np.median(moves)  # some clips move more than others
    batches = train.ShardBatches(out, config.preset("tiny"), seed=0)
    np.testing.assert_array_equal(batches.fixed(4), first[rows])
    batches.close()


def test_same_seed_same_clips_whatever_the_workers(frame_root):
    one = clips.process(
        frame_root / "Train",
        frame_root / "a",
        200,
        seed=5,
        shard_size=50,
        workers=1,
        progress=False,
    )
    two = clips.process(
        frame_root / "Train",
        frame_root / "b",
        200,
        seed=5,
        shard_size=50,
        workers=2,
        progress=False,
    )
    other = clips.process(
        frame_root / "Train",
        frame_root / "c",
        200,
        seed=6,
        shard_size=50,
        workers=1,
        progress=False,
    )

    def load(summary):
        manifest = clips.read_manifest(summary.clips_dir)
        return np.concatenate(
            [clips.load_shard(summary.clips_dir / s["file"]) for s in manifest["shards"]]
        )

    assert np.array_equal(load(one), load(two))
    assert not np.array_equal(load(one), load(other))


def test_rerun_makes_only_missing_shards(frame_root):
    out = frame_root / "clips"
    clips.process(frame_root / "Train", out, 200, shard_size=50, workers=1, progress=False)
    files = sorted(out.glob("clips-*.npz"))
    reference = {f.name: clips.load_shard(f) for f in files}
    mtimes = {f.name: f.stat().st_mtime_ns for f in files}
    files[1].unlink()
    (out / (files[1].name + ".tmp")).write_bytes(b"half written")
    summary = clips.process(
        frame_root / "Train", out, 200, shard_size=50, workers=1, progress=False
    )
    assert summary.made == len(reference[files[1].name])
    for f in files:
        assert np.array_equal(clips.load_shard(f), reference[f.name])
        if f != files[1]:
            assert f.stat().st_mtime_ns == mtimes[f.name]


def test_killed_process_resumes_to_the_same_clips(tmp_path):
    """Stop `avgkit process` for real (SIGKILL) once some shards exist, then rerun it."""
    for index in range(4):
        write_video(tmp_path / "Train" / f"v{index}", 40, size=(100, 120), seed=index)
    command = [
        sys.executable,
        "-m",
        "avgkit.cli",
        "process",
        "-t",
        str(tmp_path / "Train"),
        "-n",
        "30000",
        "--seed",
        "1",
        "--workers",
        "1",
    ]
    out = tmp_path / "clips"
    job = subprocess.Popen(command + ["-c", str(out)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list(out.glob("clips-*.npz"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    job.kill()
    job.wait()
    finished = sum(len(clips.load_shard(f)) for f in out.glob("clips-*.npz"))
    assert 0 < finished < 30000  # stopped part way
    done = subprocess.run(command + ["-c", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"; {30000 - finished} made in" in done.stdout
    whole = tmp_path / "whole"
    subprocess.run(command + ["-c", str(whole)], check=True, capture_output=True)
    manifest = clips.read_manifest(out)
    assert not list(out.glob("*.tmp"))
    for shard in manifest["shards"]:
        assert np.array_equal(
            clips.load_shard(out / shard["file"]), clips.load_shard(whole / shard["file"])
        )


def processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, start time) of every running process (zombies have ended), from /proc."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent, *rest = stat.read_text().rpartition(")")[2].split()
        except OSError:  # ended meanwhile
            continue
        if state != "Z":
            found[int(stat.parent.name)] = (int(parent), rest[17])  # field 22: start time
    return found


def descendants(pid: int) -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, start time) of the running descendants of process `pid`."""
    table, found, parents = processes(), {}, {pid}
    while parents:
        children = {p: entry for p, entry in table.items() if entry[0] in parents}
        found |= children
        parents = set(children)
    return found


def still_running(spawned: dict[int, tuple[int, str]]) -> list[int]:
    """The pids of `spawned` still running: same pid, same start time (whatever their parent)."""
    table = processes()
    return [pid for pid, (_, start) in spawned.items() if table.get(pid, (0, ""))[1] == start]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_workers_end_when_process_is_killed(tmp_path):
    """SIGKILL `avgkit process` mid-run: none of the processes it started may outlive it."""
    for index in range(4):
        write_video(tmp_path / "Train" / f"v{index}", 40, size=(100, 120), seed=index)
    command = [sys.executable, "-m", "avgkit.cli", "process", "-t", str(tmp_path / "Train")]
    command += ["-c", str(tmp_path / "clips"), "-n", "200000", "--workers", "2"]
    job = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    spawned = {}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and job.poll() is None:
            spawned = descendants(job.pid)
            if sum(parent != job.pid for parent, _ in spawned.values()) >= 2:
                break  # both workers run (children of the forkserver, a child of the job)
            time.sleep(0.05)
        assert job.poll() is None and len(spawned) >= 3, spawned
        job.kill()
        job.wait()
        deadline = time.monotonic() + 30  # a bound on liveness, not a timing requirement
        while time.monotonic() < deadline and still_running(spawned):
            time.sleep(0.1)
        assert not still_running(spawned)
    finally:
        job.kill()
        for pid in still_running(spawned):  # leave no orphans behind
            os.kill(pid, signal.SIGKILL)


def test_other_settings_need_overwrite(frame_root):
    out = frame_root / "clips"
    clips.process(frame_root / "Train", out, 100, workers=1, progress=False)
    with pytest.raises(DataError, match="num_clips differ.*-o/--overwrite"):
        clips.process(frame_root / "Train", out, 120, workers=1, progress=False)
    summary = clips.process(
        frame_root / "Train", out, 120, workers=1, overwrite=True, progress=False
    )
    assert summary.num_clips == 120
    assert clips.read_manifest(out)["num_clips"] == 120


def test_short_videos_are_skipped_with_a_warning(frame_root, capsys):
    write_video(frame_root / "Train" / "tiny", 3)
    summary = clips.process(
        frame_root / "Train", frame_root / "clips", 50, workers=1, progress=False
    )
    assert summary.too_short == [str(frame_root / "Train" / "tiny")]
    assert "tiny: 3 frames, fewer than the 5 a clip needs; skipped" in capsys.readouterr().out


def test_only_short_videos_is_an_error(tmp_path):
    write_video(tmp_path / "Train" / "tiny", 4)
    with pytest.raises(DataError, match="no video has the 5 frames a clip needs"):
        clips.process(tmp_path / "Train", tmp_path / "clips", 10, progress=False)


def test_frames_smaller_than_the_crop(tmp_path):
    write_video(tmp_path / "Train" / "small", 8, size=(24, 64), square=4)
    with pytest.raises(
        DataError, match=r"small/frame0\.png: frame is 64x24, smaller than the 32x32"
    ):
        clips.process(tmp_path / "Train", tmp_path / "clips", 10, progress=False)


def test_stray_files_are_counted(frame_root):
    (frame_root / "Train" / "video1" / ".DS_Store").write_bytes(b"\0")
    (frame_root / "Train" / "video2" / "Thumbs.db").write_bytes(b"\0")
    summary = clips.process(
        frame_root / "Train", frame_root / "clips", 20, workers=1, progress=False
    )
    assert summary.ignored_files == 2 and "2 non-image files ignored" in summary.line()


def test_corrupt_frame_is_named_and_finished_shards_kept(frame_root):
    out = frame_root / "clips"
    clips.process(frame_root / "Train", out, 200, shard_size=50, workers=1, progress=False)
    first = sorted(out.glob("clips-00000-*.npz"))
    for shard in sorted(out.glob("clips-00001-*.npz")):
        shard.unlink()
    (frame_root / "Train" / "video2" / "frame6.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"video2/frame6\.png: not a readable image"):
        clips.process(frame_root / "Train", out, 200, shard_size=50, workers=1, progress=False)
    assert sorted(out.glob("clips-00000-*.npz")) == first


def test_mixed_sizes_in_a_video(frame_root):
    Image.new("RGB", (40, 40)).save(frame_root / "Train" / "video1" / "frame9.png")
    with pytest.raises(
        DataError, match=r"frame9\.png: frame is 40x40 but the video's frames are 64x48"
    ):
        clips.process(frame_root / "Train", frame_root / "clips", 300, workers=1, progress=False)


@pytest.mark.parametrize("count", [0, -5])
def test_number_of_clips_must_be_positive(frame_root, count):
    with pytest.raises(ConfigError, match=f"-n/--num_clips {count}: expected a positive"):
        clips.process(frame_root / "Train", frame_root / "clips", count)


def test_unfinished_folder_is_not_read(frame_root):
    with pytest.raises(DataError, match="no manifest.json"):
        clips.read_manifest(frame_root)


def test_a_frame_of_another_size_is_found_whatever_the_crops_drawn(tmp_path):
    """11 frames and one clip: the crops drawn may never read the odd frame; its header does."""
    video = write_video(tmp_path / "Train" / "v", 11, seed=4)
    Image.new("RGB", (40, 40)).save(video / "frame10.png")
    with pytest.raises(DataError, match=r"frame10\.png: frame is 40x40 but the video's frames"):
        clips.process(tmp_path / "Train", tmp_path / "clips", 1, workers=1, progress=False)


# --- the player's actions -----------------------------------------------------------------------
@pytest.fixture
def acted(tmp_path):
    """ROOT/Train: two indexed videos of 30 frames with random actions (conftest.ACTION_SET)."""
    for index in range(2):
        write_indexed_video(tmp_path / "Train" / f"v{index}", 30, seed=index)
    return tmp_path, write_actions(tmp_path, seed=3)


def test_each_clip_keeps_the_actions_of_its_frames(acted):
    root, written = acted
    out = root / "clips"
    summary = clips.process(root / "Train", out, 200, spec=clips.ClipSpec(clip_length=6),
                            shard_size=50, workers=1, progress=False)  # fmt: skip
    manifest = clips.read_manifest(out)
    assert manifest["actions"] == list(ACTION_SET) == summary.actions
    assert summary.ignored_files == 0 and "with the player's actions (5)" in summary.line()
    for shard in manifest["shards"]:
        cut, actions = clips.load_shard(out / shard["file"], shard, actions=True)
        assert actions.shape == (len(cut), 6) and actions.dtype == np.uint8
        video = "v0" if shard["file"].startswith("clips-00000") else "v1"
        expected = np.array([ACTION_SET.index(name) for name in written[video]])
        indices = frame_indices(cut)
        assert np.all(np.diff(indices, axis=1) == 1)  # six consecutive frames
        np.testing.assert_array_equal(actions, expected[indices])


def test_remade_shards_with_actions_are_byte_identical(acted):
    root, _ = acted
    out = root / "clips"
    clips.process(root / "Train", out, 120, shard_size=40, workers=1, progress=False)
    files = sorted(out.glob("clips-*.npz"))
    reference = [f.read_bytes() for f in files]
    files[1].unlink()
    files[2].write_bytes(reference[2][:-10])
    summary = clips.process(root / "Train", out, 120, shard_size=40, workers=1, progress=False)
    assert summary.remade == 2 and [f.read_bytes() for f in files] == reference
    with np.load(files[0]) as shard:
        assert shard.files == ["clips", "scores", "actions"]


def test_frames_without_actions_make_the_shards_they_made_before(frame_root):
    """No actions.csv: no `actions` array, "actions": null; a manifest written before actions
    existed (no such key) is still rerun without -o."""
    out = frame_root / "clips"
    clips.process(frame_root / "Train", out, 60, workers=1, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["actions"] is None
    with np.load(out / manifest["shards"][0]["file"]) as shard:
        assert shard.files == ["clips", "scores"]
    with pytest.raises(DataError, match=r"holds no actions \(no array `actions`\)"):
        clips.load_shard(out / manifest["shards"][0]["file"], actions=True)
    del manifest["actions"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert clips.process(frame_root / "Train", out, 60, workers=1, progress=False).made == 0
    with pytest.raises(DataError, match=r"--actions: the clips in .* have no actions"):
        clips.action_set(out)


def rewrite_rows(csv_path: Path, change) -> None:
    """Rewrite the rows (after the header) of an actions.csv with `change(rows)`."""
    lines = csv_path.read_text().splitlines()
    csv_path.write_text("\n".join([lines[0], *change(lines[1:])]) + "\n")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda rows: rows[:7] + rows[8:], "actions.csv: no row for frame frame7.png; expected"),
        (
            lambda rows: [*rows[:3], "frame3.png,JUMP", *rows[4:]],
            "actions.csv, line 5: action 'JUMP' is not in the action set (NOOP, UP, RIGHT,",
        ),
        (
            lambda rows: [*rows, "frame30.png,UP"],
            "actions.csv, line 32: names frame 'frame30.png', not in ",
        ),
        (
            lambda rows: [*rows[:2], rows[1], *rows[3:]],
            "actions.csv, line 4: names frame 'frame1.png' a second time",
        ),
    ],
    ids=["missing row", "unknown action", "frame not in the folder", "frame named twice"],
)
def test_a_bad_actions_csv_is_named_in_one_line(acted, capsys, change, message):
    root, _ = acted
    rewrite_rows(root / "Train" / "v1" / "actions.csv", change)
    code = cli.main(["process", "-t", str(root / "Train"), "-c", str(root / "clips"), "-n", "20"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"avgkit process: error: {root / 'Train' / 'v1' / 'actions.csv'}")
    assert message in lines[0], lines[0]


def test_actions_for_some_videos_only_or_without_an_action_set_are_refused(acted):
    root, _ = acted
    (root / "Train" / "v0" / "actions.csv").unlink()
    with pytest.raises(DataError, match=r"v0: no actions.csv, but .*v1/actions.csv is there"):
        clips.process(root / "Train", root / "clips", 20, workers=1, progress=False)
    write_actions(root)
    (root / "recording.json").unlink()
    with pytest.raises(DataError, match=r"v0/actions.csv: no action set to read it with"):
        clips.process(root / "Train", root / "clips", 20, workers=1, progress=False)
