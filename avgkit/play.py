"""Play a game inside an action-conditioned generator (notebook 07).

`Imagined` holds a game that exists only in the model: it starts from a real history of
`hist_len` frames, and each `press(action)` has G predict the next frame from the last
`hist_len` frames (its own predictions among them) and the action, as `evaluate.rollout` does.
`joystick` puts buttons on it; `rollout` rolls one history out under a sequence of actions;
`player_position` finds Ms. Pac-Man in a frame by her colour, to tell where two plans part.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

from avgkit import evaluate
from avgkit.data import actions as actions_lib
from avgkit.data.frames import to_uint8
from avgkit.data.pipeline import stack_frames, to_unit
from avgkit.metrics import SPRITE_TOLERANCE
from avgkit.study import PLAYER_COLOUR

JOYSTICK = ("UP", "LEFT", "NOOP", "RIGHT", "DOWN")  # the buttons, left to right
MAZE_ROWS = 172  # the maze's rows; below them the score and the lives, her colour a shade darker


class Imagined:
    """A game imagined by `generator` from `history`, uint8 (hist_len, H, W, 3).

    frames: the real history, then each imagined frame (uint8 (H, W, 3), fed back as 8-bit
    pixels, as a real frame would be); actions: the actions pressed so far."""

    def __init__(self, generator, history: np.ndarray):
        self.generator = generator
        self.history = np.asarray(history, np.uint8)
        self.reset()

    def reset(self) -> None:
        """Back to the real history."""
        self.frames = list(self.history)
        self.actions: list[str] = []

    def press(self, action: str) -> np.ndarray:
        """Imagine the frame after the last ones under `action` (a name of the generator's
        action set); returns it, uint8 (H, W, 3)."""
        recent = np.stack(self.frames[-len(self.history) :])
        frame = rollout(self.generator, recent, 1, [action])[0]
        self.frames.append(frame)
        self.actions.append(action)
        return frame


def joystick(game: Imagined, buttons: Sequence[str] = JOYSTICK, zoom: int = 3):
    """Buttons that press an action of `game` each (one imagined frame per click), a reset
    button, a caption and the newest frame enlarged `zoom` times. Returns the widget (a VBox).

    The picture is PNG bytes in an `ipywidgets.Image` (no Output widget, no matplotlib figure:
    see `viz.recursion_slider`)."""
    import ipywidgets

    picture = ipywidgets.Image(value=_png(game.frames[-1], zoom))
    caption = ipywidgets.Label()

    def show() -> None:
        picture.value = _png(game.frames[-1], zoom)
        pressed = ", ".join(game.actions[-8:])
        caption.value = (
            f"imagined frame {len(game.actions)} ({'... ' if len(game.actions) > 8 else ''}"
            f"{pressed})"
            if game.actions
            else "the real history's last frame: press a direction"
        )

    def pressing(action: str):
        def press(_button) -> None:
            game.press(action)
            show()

        return press

    pad = []
    for action in buttons:
        button = ipywidgets.Button(description=action, layout=ipywidgets.Layout(width="80px"))
        button.on_click(pressing(action))
        pad.append(button)
    reset = ipywidgets.Button(description="reset", button_style="warning")
    reset.on_click(lambda _button: (game.reset(), show()))
    show()
    return ipywidgets.VBox([ipywidgets.HBox([*pad, reset]), caption, picture])


def _png(frame: np.ndarray, zoom: int) -> bytes:
    """`frame` enlarged `zoom` times (nearest neighbour), as PNG bytes."""
    image = Image.fromarray(frame)
    image = image.resize((frame.shape[1] * zoom, frame.shape[0] * zoom), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def rollout(generator, history: np.ndarray, recursions: int, actions=None) -> np.ndarray:
    """`generator`'s rollout of one history, uint8 (hist_len, H, W, 3): uint8 (recursions, H, W,
    3). actions: `recursions` action names for an action-conditioned G, None for others."""
    inputs = stack_frames(to_unit(np.asarray(history)))[None]
    if actions is not None:
        actions = actions_lib.indices([list(actions)], generator.config.actions)
    return to_uint8(evaluate.rollout(generator, inputs, recursions, actions=actions)[0])


def player_position(
    frame: np.ndarray, tolerance: float = SPRITE_TOLERANCE, least: int = 1
) -> np.ndarray | None:
    """Ms. Pac-Man's centre (row, column) in uint8 `frame` (H, W, 3): the mean position of the
    pixels within `tolerance` (RGB distance) of her colour in the maze's rows (the lives below
    them are near her colour); None where fewer than `least` pixels show."""
    distance = np.linalg.norm(frame[:MAZE_ROWS].astype(float) - PLAYER_COLOUR, axis=-1)
    rows, columns = np.nonzero(distance <= tolerance)
    if rows.size < max(least, 1):
        return None
    return np.array([rows.mean(), columns.mean()])


def turns(frames: np.ndarray, span: int = 4, least: float = 4.0) -> list[tuple[int, str, str]]:
    """Where Ms. Pac-Man turns in uint8 `frames` (T, H, W, 3): (t, before, after) for each frame
    t where her move over the `span` frames before t runs along one axis and her move over the
    `span` frames from t along the other, each at least `least` px; before and after name the
    moves' directions (UP, DOWN, LEFT, RIGHT). Frames where she is not found are skipped."""
    positions = [player_position(frame) for frame in frames]
    found = []
    for t in range(span, len(frames) - span):
        start, turn, end = positions[t - span], positions[t], positions[t + span]
        if start is None or turn is None or end is None:
            continue
        before, after = _direction(turn - start, least), _direction(end - turn, least)
        if before and after and _axis(before) != _axis(after):
            found.append((t, before, after))
    return found


def _direction(move: np.ndarray, least: float) -> str | None:
    """The direction of a (row, column) move mostly along one axis by at least `least` px."""
    rows, columns = move
    if abs(rows) >= least and abs(rows) > 2 * abs(columns):
        return "DOWN" if rows > 0 else "UP"
    if abs(columns) >= least and abs(columns) > 2 * abs(rows):
        return "RIGHT" if columns > 0 else "LEFT"
    return None


def _axis(direction: str) -> str:
    return "vertical" if direction in ("UP", "DOWN") else "horizontal"
