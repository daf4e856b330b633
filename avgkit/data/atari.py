"""Record Atari episodes (Ms. Pac-Man by default) with the Arcade Learning Environment.

Writes `OUT/{Train,Test}/<episode>/<frame>.png` (the TF1 layout). A random policy holds each
action for several steps so the player keeps moving. Each recorded frame combines the last
`combine` emulator frames, taking per pixel the colour of the brightest one: Ms. Pac-Man draws
each ghost only on some frames (measured: gaps of 4 to 6 frames between two draws of a ghost), so
a single emulator frame shows ghosts blinking in and out. Brightest-colour (not per-channel
maximum) keeps every pixel a colour the game really drew.

Each episode folder also gets `actions.csv` (`avgkit.data.actions`): per recorded frame, the name
of the action held while the emulator produced it (the frameskip emulator frames after the
previous recorded frame). No recorded frame comes before the first chosen action: the NOOP
start-up (`start_skip`) is played before recording starts. A recorded frame combines the last
`combine` emulator frames, so with combine > frameskip its oldest emulator frames were made
under the action before (under NOOP for the first recorded frame). `recording.json` lists the
game's action set under "actions".

Finished episodes are kept: each is written to a temporary folder and renamed when complete, and
a rerun with the same settings records only the missing ones. A recording made before actions
were recorded (its recording.json lists none) is resumed without them, so that all its episodes
stay alike.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections import deque
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from avgkit.data import actions as actions_lib
from avgkit.errors import ConfigError, DataError

FLICKER_WINDOW = 6  # emulator frames that show every Ms. Pac-Man ghost at least once (measured)
# Ms. Pac-Man's start-up tune: after a reset nothing moves but blinking pills for about 264
# emulator frames (measured: at frameskip 4 the sprites start moving in recorded frame 66).
# Test sequences cut from there would be scored on a still picture. Skipping 256 of them leaves
# at most two still frames at the start of an episode.
START_SKIP = 256
SPLITS = ("Train", "Test")


@dataclasses.dataclass(frozen=True)
class Recording:
    """What `record` records; saved as `recording.json` in the output folder."""

    game: str = "MsPacman"
    train_episodes: int = 20
    test_episodes: int = 4
    frames: int = 1000  # recorded frames per episode at most (an episode ends at game over)
    frameskip: int = 4  # emulator frames between two recorded frames
    combine: int = FLICKER_WINDOW  # emulator frames combined into one recorded frame
    start_skip: int = START_SKIP  # emulator frames played with no action before recording
    hold: tuple[int, int] = (2, 8)  # a random action is held for this many recorded frames
    seed: int = 0

    def episode_seed(self, split: str, index: int) -> int:
        """The emulator and policy seed of one episode; Train and Test seeds never overlap."""
        state = np.random.SeedSequence([self.seed, SPLITS.index(split), index])
        return int(state.generate_state(1)[0])


def record(out: str | Path, recording: Recording = Recording(), progress: bool = True) -> Path:
    """Record `recording` into `out`; returns `out`. Safe to stop and rerun."""
    _check(recording)
    out = Path(out)
    env = make_env(recording.game)
    try:
        _record_episodes(out, recording, env, progress)
    finally:
        env.close()
    return out


def _record_episodes(out: Path, recording: Recording, env, progress: bool) -> None:
    """Record the episodes of `recording` that `out` lacks, each with its actions.csv unless the
    recording there was started without actions."""
    names = tuple(env.unwrapped.get_action_meanings())
    out.mkdir(parents=True, exist_ok=True)
    with_actions = _claim(out, recording, names)
    todo = [
        (split, index)
        for split, count in zip(SPLITS, (recording.train_episodes, recording.test_episodes))
        for index in range(count)
        if not _episode_dir(out, split, index).is_dir()
    ]
    total = len(todo) * recording.frames
    with tqdm(
        total=total, desc=f"record {recording.game}", unit="frame", disable=not progress
    ) as bar:
        for split, index in todo:
            final = _episode_dir(out, split, index)
            tmp = final.with_name(final.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            frames, held = [], []
            for frame, action in play_episode(env, recording, split, index):
                frames.append(f"{len(frames):05d}.png")
                held.append(names[action])
                Image.fromarray(frame).save(tmp / frames[-1])
                bar.update(1)
            if with_actions:
                actions_lib.write(tmp, frames, held)
            bar.update(recording.frames - len(frames))
            tmp.rename(final)


def play_episode(env, recording: Recording, split: str, index: int):
    """Yield up to `recording.frames` pairs (combined frame, uint8 (210, 160, 3) for Ms. Pac-Man;
    the index of the action held while the emulator produced it, in the game's action set)."""
    seed = recording.episode_seed(split, index)
    rng = np.random.default_rng(seed)
    observation, _ = env.reset(seed=seed)
    recent = deque([observation], maxlen=recording.combine)
    for _ in range(recording.start_skip):
        observation, _, terminated, truncated, _ = env.step(0)  # NOOP
        recent.append(observation)
        if terminated or truncated:
            return
    low, high = recording.hold
    action, held = 0, 0
    for _ in range(recording.frames):
        if held == 0:
            action, held = rng.integers(env.action_space.n), rng.integers(low, high + 1)
        held -= 1
        for _ in range(recording.frameskip):
            observation, _, terminated, truncated, _ = env.step(action)
            recent.append(observation)
            if terminated or truncated:
                return
        yield brightest(np.stack(recent)), int(action)


def brightest(frames: np.ndarray) -> np.ndarray:
    """Per pixel, the colour of the brightest of `frames` (time, H, W, 3) uint8 -> (H, W, 3).

    Brightness is R + G + B; ties go to the larger packed colour value.
    """
    rgb = frames.astype(np.uint64)
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    key = ((red + green + blue) << 24) | (red << 16) | (green << 8) | blue
    best = key.max(axis=0)
    return np.stack([best >> 16, best >> 8, best], axis=-1).astype(np.uint8)


def make_env(game: str):
    """A gymnasium ALE environment stepping one emulator frame at a time, without sticky actions."""
    import ale_py
    import gymnasium as gym

    ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)  # no banner on every start
    gym.register_envs(ale_py)
    env_id = f"ALE/{game}-v5"
    try:
        return gym.make(env_id, render_mode="rgb_array", frameskip=1, repeat_action_probability=0)
    except gym.error.Error:
        games = sorted(
            name[4:-3] for name in gym.registry if name.startswith("ALE/") and name.endswith("-v5")
        )
        raise ConfigError(
            f"--game {game}: not an ALE game; expected one of {', '.join(games)}"
        ) from None


def _check(recording: Recording) -> None:
    for flag, value in (
        ("--train-episodes", recording.train_episodes),
        ("--test-episodes", recording.test_episodes),
    ):
        if value < 0:
            raise ConfigError(f"{flag} {value}: expected 0 or more")
    for flag, value in (
        ("--frames", recording.frames),
        ("--frameskip", recording.frameskip),
        ("--combine", recording.combine),
    ):
        if value < 1:
            raise ConfigError(f"{flag} {value}: expected 1 or more")
    if recording.start_skip < 0:
        raise ConfigError(f"--start-skip {recording.start_skip}: expected 0 or more")
    if recording.train_episodes + recording.test_episodes == 0:
        raise ConfigError("--train-episodes and --test-episodes are both 0: nothing to record")


def _claim(out: Path, recording: Recording, names: tuple[str, ...]) -> bool:
    """Write `recording.json` (the settings and the action set `names`), or check that an
    earlier run into `out` used the same settings and action set. Returns whether the recording
    keeps actions: yes, unless it was started before actions were recorded."""
    settings = out / actions_lib.RECORDING
    wanted = dataclasses.asdict(recording)
    wanted["hold"] = list(wanted["hold"])
    wanted["actions"] = list(names)
    if settings.exists():
        found = json.loads(settings.read_text())
        keeps_actions = "actions" in found
        found.setdefault("actions", wanted["actions"])  # started before actions were recorded
        if found != wanted:
            changed = sorted(key for key in wanted if found.get(key) != wanted[key])
            sets = (
                f"; its action set ({', '.join(found['actions'])}) is not {recording.game}'s "
                f"({', '.join(names)})"
                if found["actions"] != wanted["actions"]
                else ""
            )
            raise DataError(
                f"{out}: already holds a recording with other settings ({', '.join(changed)} "
                f"differ, see {settings}){sets}; use another --out or delete that folder"
            )
        return keeps_actions
    tmp = settings.with_name(settings.name + ".tmp")
    tmp.write_text(json.dumps(wanted, indent=2) + "\n")
    tmp.replace(settings)
    return True


def _episode_dir(out: Path, split: str, index: int) -> Path:
    return out / split / f"episode_{index:04d}"
