"""Recording Ms. Pac-Man with ALE: layout, actions, determinism, no flicker, resume, bad
input."""

import csv
import itertools
import json
import shutil

import numpy as np
import pytest

from avgkit import cli
from avgkit.data import actions, atari, frames
from avgkit.errors import ConfigError, DataError

MSPACMAN_ACTIONS = ["NOOP", "UP", "RIGHT", "LEFT", "DOWN"] + [
    "UPRIGHT", "UPLEFT", "DOWNRIGHT", "DOWNLEFT"
]  # fmt: skip

GHOSTS = {
    "red": (200, 72, 72),
    "pink": (198, 89, 179),
    "cyan": (84, 184, 153),
    "orange": (180, 122, 48),
}
SPRITES = [*GHOSTS.values(), (210, 164, 74), (66, 114, 194)]  # + Ms. Pac-Man, frightened ghost


def test_layout_and_frames(mspacman):
    for split, count in (("Train", 2), ("Test", 1)):
        videos, _ = frames.list_videos(mspacman / split)
        assert [v.name for v in videos] == [f"episode_{i:04d}" for i in range(count)]
        assert all(len(v) == 40 for v in videos)
    frame = frames.read_frame(mspacman / "Train" / "episode_0000" / "00000.png")
    assert frame.shape == (210, 160, 3) and frame.dtype == np.uint8
    assert json.loads((mspacman / "recording.json").read_text())["seed"] == 7


def test_the_player_moves(mspacman):
    video = frames.read_video(frames.list_videos(mspacman / "Train")[0][0])
    changed = np.any(video[1:] != video[:-1], axis=(1, 2, 3))
    assert changed.mean() > 0.9


def changed_pixels(split_dir) -> np.ndarray:
    """Pixels of the first video of `split_dir` that change by more than 10 levels from each
    recorded frame to the next."""
    video = frames.read_video(frames.list_videos(split_dir)[0][0]).astype(int)
    return (np.abs(np.diff(video, axis=0)).max(axis=-1) > 10).sum(axis=(1, 2))


def test_recording_starts_when_the_sprites_move(tmp_path, mspacman):
    # Control: from the reset, the start-up tune; only the power pills blink (56-98 pixels).
    intro = atari.Recording(train_episodes=1, test_episodes=0, frames=12, seed=7, start_skip=0)
    still = changed_pixels(atari.record(tmp_path, intro, progress=False) / "Train")
    assert still.max() < 120
    # Recorded: the sprites move from the first frames on (200-320 pixels measured).
    moving = changed_pixels(mspacman / "Train")[:12]
    assert np.median(moving) > 150


def test_same_seed_gives_identical_bytes(tmp_path, mspacman):
    recording = atari.Recording(train_episodes=1, test_episodes=0, frames=40, seed=7)
    again = atari.record(tmp_path / "again", recording, progress=False)
    first = sorted((mspacman / "Train" / "episode_0000").iterdir())
    second = sorted((again / "Train" / "episode_0000").iterdir())
    assert [p.name for p in first] == [p.name for p in second]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first, second))


def test_train_and_test_seeds_are_disjoint():
    recording = atari.Recording(train_episodes=500, test_episodes=500)
    train = {recording.episode_seed("Train", i) for i in range(500)}
    test = {recording.episode_seed("Test", i) for i in range(500)}
    assert len(train) == 500 and len(test) == 500 and not train & test


def test_brightest_against_a_pixel_loop():
    rng = np.random.default_rng(0)
    stack = rng.integers(0, 256, (5, 6, 7, 3), dtype=np.uint8)
    combined = atari.brightest(stack)
    for y in range(6):
        for x in range(7):
            sums = [int(frame[y, x].astype(int).sum()) for frame in stack]
            best = max(range(5), key=lambda t: (sums[t], tuple(stack[t, y, x])))
            assert combined[y, x].tolist() == stack[best, y, x].tolist()


class Tap:
    """Passes calls through to an ALE environment, keeping every emulator frame it returns and
    every action it is given."""

    def __init__(self, env):
        self.env, self.frames, self.actions = env, [], []
        self.action_space = env.action_space

    def reset(self, **kwargs):
        observation, info = self.env.reset(**kwargs)
        self.frames.append(observation)
        return observation, info

    def step(self, action):
        result = self.env.step(action)
        self.frames.append(result[0])
        self.actions.append(int(action))
        return result


def test_each_frame_comes_with_the_action_held_while_the_emulator_made_it():
    recording = atari.Recording(frames=30, seed=5)
    tap = Tap(atari.make_env("MsPacman"))
    played = list(atari.play_episode(tap, recording, "Train", 0))
    tap.env.close()
    assert len(played) == 30
    skip, every = recording.start_skip, recording.frameskip
    assert tap.actions[:skip] == [0] * skip  # the start-up, played before recording begins
    for j, (frame, action) in enumerate(played):
        # recorded frame j: made by the `every` steps after recorded frame j - 1, all with it
        last = skip + every * (j + 1)  # tap.frames[i]: the frame after step i (0: the reset)
        assert tap.actions[last - every : last] == [action] * every
        window = tap.frames[last + 1 - recording.combine : last + 1]
        np.testing.assert_array_equal(frame, atari.brightest(np.stack(window)))
    held = [len(list(run)) for _, run in itertools.groupby(a for _, a in played)]
    # a random action is held 2 to 8 frames (two draws in a row may pick the same action)
    assert min(held[:-1]) >= 2 and len({a for _, a in played}) > 3


def test_the_recording_writes_each_frames_action(mspacman):
    assert json.loads((mspacman / "recording.json").read_text())["actions"] == MSPACMAN_ACTIONS
    folder = mspacman / "Train" / "episode_0001"
    with (folder / "actions.csv").open(newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["frame", "action"] and len(rows) == 41
    assert [frame for frame, _ in rows[1:]] == [f"{i:05d}.png" for i in range(40)]
    # the same episode played again: the actions it yields, by name
    recording = atari.Recording(train_episodes=2, test_episodes=1, frames=40, seed=7)
    env = atari.make_env("MsPacman")
    replayed = [MSPACMAN_ACTIONS[a] for _, a in atari.play_episode(env, recording, "Train", 1)]
    env.close()
    assert [name for _, name in rows[1:]] == replayed
    video = frames.list_videos(mspacman / "Train")[0][1]
    assert video.actions == folder / "actions.csv" and not video.ignored
    np.testing.assert_array_equal(
        actions.read(video, MSPACMAN_ACTIONS), [MSPACMAN_ACTIONS.index(n) for n in replayed]
    )


def _ghosts_shown(frames):
    """(frames, 4) bool: which ghost colours each frame shows in the maze (rows < 172)."""
    return np.array(
        [
            [np.any(np.all(frame[:172] == colour, axis=-1)) for colour in GHOSTS.values()]
            for frame in frames
        ]
    )


def _flicker_misses(recording: atari.Recording, around: int = 8):
    """Count recorded frames that miss a ghost on screen, that is, drawn by the emulator both in
    the `around` emulator frames up to the recorded one and in the `around` after it.

    Returns (misses not explained by occlusion, occluded, checked). A miss is occlusion when each
    pixel where the ghost was drawn in the combined frames shows another sprite instead.
    """
    tap = Tap(atari.make_env("MsPacman"))
    recorded = [frame for frame, _ in atari.play_episode(tap, recording, "Train", 0)]
    tap.env.close()
    raw_shown = _ghosts_shown(tap.frames)
    shown = _ghosts_shown(recorded)
    unexplained = occluded = checked = 0
    for j in range(len(recorded)):
        # emulator frames seen up to recorded frame j: the reset, the skipped start, the steps
        last = 1 + recording.start_skip + recording.frameskip * (j + 1)
        if last + around > len(tap.frames):
            break
        on_screen = raw_shown[last - around : last].any(0) & raw_shown[last : last + around].any(0)
        checked += int(on_screen.sum())
        for ghost in np.flatnonzero(on_screen & ~shown[j]):
            window = np.stack(tap.frames[max(0, last - recording.combine) : last])
            drawn = np.any(np.all(window == GHOSTS[list(GHOSTS)[ghost]], axis=-1), axis=0)
            others = [c for i, c in enumerate(SPRITES) if i != ghost]
            covered = np.any(np.all(recorded[j][drawn][:, None] == others, axis=-1), axis=-1)
            if drawn.any() and covered.all():
                occluded += 1
            else:
                unexplained += 1
    return unexplained, occluded, checked


def test_every_ghost_appears_in_every_recorded_frame():
    unexplained, occluded, checked = _flicker_misses(atari.Recording(frames=250, seed=3))
    assert checked > 500  # ghosts were on screen in most of the 250 frames
    assert unexplained == 0
    assert occluded < checked // 4  # ghosts stacked in their pen at the start hide each other


def test_single_emulator_frames_flicker():
    """The check above can fail: without combining frames, ghosts vanish from frames."""
    unexplained, _, checked = _flicker_misses(atari.Recording(frames=250, combine=1, seed=3))
    assert checked > 500 and unexplained > 100


def test_interrupted_recording_resumes(tmp_path):
    recording = atari.Recording(train_episodes=2, test_episodes=1, frames=12, seed=1)
    out = atari.record(tmp_path / "rec", recording, progress=False)
    kept = out / "Train" / "episode_0000" / "00005.png"
    mtime = kept.stat().st_mtime_ns
    redo = out / "Train" / "episode_0001"
    reference = [p.read_bytes() for p in sorted(redo.iterdir())]
    redo.rename(redo.with_name("episode_0001.tmp"))  # as if stopped while writing it
    (redo.with_name("episode_0001.tmp") / "00011.png").unlink()
    atari.record(out, recording, progress=False)
    assert kept.stat().st_mtime_ns == mtime  # finished episodes are not redone
    assert [p.read_bytes() for p in sorted(redo.iterdir())] == reference
    assert not redo.with_name("episode_0001.tmp").exists()


def test_other_settings_into_the_same_folder_are_refused(tmp_path):
    atari.record(
        tmp_path, atari.Recording(train_episodes=1, test_episodes=0, frames=3), progress=False
    )
    with pytest.raises(DataError, match="frames differ"):
        atari.record(
            tmp_path, atari.Recording(train_episodes=1, test_episodes=0, frames=4), progress=False
        )


def test_a_recording_resumed_with_another_game_is_refused_in_one_line(tmp_path, capsys):
    out = tmp_path / "rec"
    atari.record(out, atari.Recording(train_episodes=1, test_episodes=0, frames=3), progress=False)
    code = cli.main(["record", "--game", "Breakout", "--out", str(out), "--train-episodes", "1",
                     "--test-episodes", "0", "--frames", "3"])  # fmt: skip
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"avgkit record: error: {out}: already holds a recording")
    assert "(actions, game differ" in lines[0]
    assert f"its action set ({', '.join(MSPACMAN_ACTIONS)}) is not Breakout's" in lines[0]
    assert "(NOOP, FIRE, RIGHT, LEFT)" in lines[0]
    assert not (out / "Train" / "episode_0001").exists()


def test_a_recording_begun_without_actions_is_resumed_without_them(tmp_path):
    """A recording made before actions were recorded stays without them, all episodes alike."""
    settings = atari.Recording(train_episodes=2, test_episodes=0, frames=3)
    out = atari.record(tmp_path, settings, progress=False)
    recorded = json.loads((out / "recording.json").read_text())
    del recorded["actions"]  # as an older avgkit wrote it, stopped before its second episode
    (out / "recording.json").write_text(json.dumps(recorded))
    (out / "Train" / "episode_0000" / "actions.csv").unlink()
    shutil.rmtree(out / "Train" / "episode_0001")
    atari.record(out, settings, progress=False)
    assert json.loads((out / "recording.json").read_text()) == recorded
    assert not list(out.rglob("actions.csv"))
    assert len(list((out / "Train" / "episode_0001").glob("*.png"))) == 3


def test_unknown_game_and_bad_numbers():
    with pytest.raises(ConfigError, match="--game NoSuchGame: not an ALE game.*MsPacman"):
        atari.make_env("NoSuchGame")
    with pytest.raises(ConfigError, match="--frameskip 0: expected 1 or more"):
        atari.record("unused", atari.Recording(frameskip=0))
    with pytest.raises(ConfigError, match="--train-episodes -1"):
        atari.record("unused", atari.Recording(train_episodes=-1))
    with pytest.raises(ConfigError, match="--start-skip -1: expected 0 or more"):
        atari.record("unused", atari.Recording(start_skip=-1))


def test_another_game_records(tmp_path):
    recording = atari.Recording(game="Breakout", train_episodes=1, test_episodes=0, frames=5)
    out = atari.record(tmp_path, recording, progress=False)
    assert len(list((out / "Train" / "episode_0000").glob("*.png"))) == 5
