"""Playing inside an action-conditioned G (`avgkit.play`, notebook 07), checked against G called
directly, and `home.recording` keeping actions beside a recording made before it did."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from avgkit import config, home, models, play
from avgkit.data import atari
from avgkit.data.frames import to_uint8
from avgkit.data.pipeline import stack_frames, to_unit
from conftest import ACTION_SET

ACTING = dataclasses.replace(config.preset("tiny"), actions=ACTION_SET)


@pytest.fixture(scope="module")
def generator():
    return models.build_generator(ACTING)


@pytest.fixture(scope="module")
def history():
    return np.random.default_rng(0).integers(0, 256, (ACTING.hist_len, 32, 40, 3), np.uint8)


def direct(generator, frames, action: str) -> np.ndarray:
    """The frame G draws after `frames` (uint8, the last hist_len) under `action`, called here."""
    inputs = stack_frames(to_unit(np.stack(frames[-ACTING.hist_len :])))[None]
    return to_uint8(generator(inputs, np.array([ACTION_SET.index(action)]))[-1][0].numpy())


def test_each_press_imagines_the_next_frame_from_the_last_ones(generator, history):
    game = play.Imagined(generator, history)
    first = game.press("LEFT")
    np.testing.assert_array_equal(first, direct(generator, list(history), "LEFT"))
    second = game.press("UP")  # from history[1:] and the imagined frame
    np.testing.assert_array_equal(second, direct(generator, [*history[1:], first], "UP"))
    assert game.actions == ["LEFT", "UP"] and len(game.frames) == ACTING.hist_len + 2
    game.reset()
    assert game.actions == [] and len(game.frames) == ACTING.hist_len
    np.testing.assert_array_equal(game.frames[-1], history[-1])


def test_the_joystick_buttons_press_and_reset(generator, history):
    game = play.Imagined(generator, history)
    widget = play.joystick(game, zoom=2)
    buttons = {button.description: button for button in widget.children[0].children}
    caption, picture = widget.children[1], widget.children[2]
    assert list(buttons) == [*play.JOYSTICK, "reset"]
    start = bytes(picture.value)
    assert start.startswith(b"\x89PNG") and "press a direction" in caption.value
    buttons["RIGHT"].click()
    buttons["RIGHT"].click()
    assert caption.value == "imagined frame 2 (RIGHT, RIGHT)"
    assert bytes(picture.value) != start
    expected = play.Imagined(generator, history)
    expected.press("RIGHT")
    np.testing.assert_array_equal(game.frames[-1], expected.press("RIGHT"))
    buttons["reset"].click()
    assert bytes(picture.value) == start and game.actions == []


def test_a_rollout_under_a_sequence_is_the_presses_of_that_sequence(generator, history):
    actions = ["UP", "DOWN", "NOOP"]
    rolled = play.rollout(generator, history, 3, actions)
    game = play.Imagined(generator, history)
    pressed = np.stack([game.press(a) for a in actions])  # each fed back as 8-bit pixels
    assert np.abs(rolled.astype(int) - pressed).max() <= 1 and (rolled == pressed).mean() > 0.9
    plain = models.build_generator(config.preset("tiny"))
    assert play.rollout(plain, history, 2).shape == (2, 32, 40, 3)


def test_the_player_is_found_by_her_colour():
    frame = np.zeros((210, 160, 3), np.uint8)
    assert play.player_position(frame) is None
    frame[4:7, 10:13] = (210, 164, 74)  # her colour, a 3x3 square centred at (5, 11)
    frame[15, 25] = (210 + 31, 164, 74)  # 31 levels away: not her
    frame[15, 2] = (210 - 20, 164 + 20, 74)  # 28 levels away: her
    frame[180:188, 20:28] = (195, 144, 61)  # a life below the maze (28.2 levels away): not her
    np.testing.assert_allclose(play.player_position(frame), [(9 * 5 + 15) / 10, (9 * 11 + 2) / 10])
    np.testing.assert_allclose(play.player_position(frame, tolerance=20), [5, 11])  # the square
    assert play.player_position(frame, least=11) is None  # 10 pixels of her show


def test_a_cached_recording_made_before_actions_gets_one_with_actions_beside_it(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("AVGKIT_HOME", str(tmp_path))
    recording = atari.Recording(train_episodes=0, test_episodes=1, frames=6, seed=3)
    params = dataclasses.asdict(recording)
    old = home.cache_dir("data", "mspacman-0x6", params)
    old.mkdir(parents=True)
    settings = {**params, "hold": list(recording.hold)}  # an older recording.json: no actions
    (old / "recording.json").write_text(json.dumps(settings))
    found = home.recording(recording, progress=False)
    assert found != old and not (old / "Test").exists()
    assert json.loads((found / "recording.json").read_text())["actions"][:2] == ["NOOP", "UP"]
    assert (found / "Test" / "episode_0000" / "actions.csv").exists()
    assert home.recording(recording, progress=False) == found  # found again
