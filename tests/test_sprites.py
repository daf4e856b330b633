"""The sprite measure (`metrics.find_palette`, `sprite_counts`, `sprites_kept`) on hand-made
small-palette frames, against counts written out by hand."""

import cv2
import numpy as np
import pytest

from avgkit import evaluate, metrics
from avgkit.data import pipeline
from avgkit.errors import DataError

BACKGROUND, MAZE = (0, 28, 136), (228, 111, 111)
YELLOW, RED = (210, 164, 74), (200, 72, 72)


def frame(sprites=(), size=(40, 48)) -> np.ndarray:
    """uint8 (H, W, 3): background, a static maze bar, and 4x4 squares (colour, y, x)."""
    image = np.empty((*size, 3), np.uint8)
    image[:] = BACKGROUND
    image[:4] = MAZE
    for colour, y, x in sprites:
        image[y : y + 4, x : x + 4] = colour
    return image


def video(steps=6) -> np.ndarray:
    """uint8 (1, steps, H, W, 3): a yellow and a red square moving 2 px a frame."""
    return np.stack(
        [frame([(YELLOW, 10, 4 + 2 * t), (RED, 24, 30 - 2 * t)]) for t in range(steps)]
    )[None]


@pytest.fixture
def palette():
    return metrics.find_palette(video())


def counts(prediction, truth, palette):
    unit = [pipeline.to_unit(np.stack([image])) for image in (prediction, truth)]
    return metrics.sprite_counts(*unit, palette)


def test_the_moving_colours_are_the_objects_and_the_maze_is_not(palette):
    colours = [tuple(c) for c in palette.colours.tolist()]
    assert colours[0] == BACKGROUND and set(colours) == {BACKGROUND, MAZE, YELLOW, RED}
    assert [colours[i] for i in palette.objects] in ([YELLOW, RED], [RED, YELLOW])
    assert palette.object_names == ["#" + bytes(colours[i]).hex() for i in palette.objects]


def test_an_exact_copy_keeps_every_sprite_in_place(palette):
    truth = frame([(YELLOW, 10, 10), (RED, 24, 30)])
    mass, placed = metrics.sprites_kept(counts(truth, truth, palette))
    assert mass.tolist() == [1.0] and placed.tolist() == [1.0]


def test_a_shifted_sprite_keeps_its_mass_and_is_placed_within_reach(palette):
    truth = frame([(YELLOW, 10, 10)])
    near = counts(frame([(YELLOW, 10, 13)]), truth, palette)  # 3 px: every pixel within reach
    far = counts(frame([(YELLOW, 10, 15)]), truth, palette)  # 5 px: columns 12, 13 of 10..13
    assert metrics.sprites_kept(near) == ([1.0], [1.0])
    mass, placed = metrics.sprites_kept(far)
    assert mass.tolist() == [1.0] and placed.tolist() == [8 / 16]


def test_a_vanished_sprite_scores_zero_and_an_invented_one_above_one(palette):
    truth = frame([(YELLOW, 10, 10)])
    gone = counts(frame(), truth, palette)
    assert [v.tolist() for v in metrics.sprites_kept(gone)] == [[0.0], [0.0]]
    invented = counts(frame([(YELLOW, 10, 10), (RED, 24, 30)]), truth, palette)
    mass, placed = metrics.sprites_kept(invented)
    assert mass.tolist() == [32 / 16] and placed.tolist() == [1.0]
    red = list(palette.object_names).index("#c84848")
    assert np.isnan(metrics.sprites_kept(invented, [red])[0]).all()  # the truth has no red


def test_a_blurred_sprite_loses_the_pixels_that_leave_its_colour(palette):
    truth = frame([(YELLOW, 10, 10)])
    blurred = cv2.blur(truth, (3, 3))  # uint8 here; scored as float in [-1, 1]
    distance = np.linalg.norm(blurred.astype(float) - YELLOW, axis=-1)
    by_hand = int(np.sum(distance <= metrics.SPRITE_TOLERANCE))  # yellow's nearest is yellow
    found = counts(blurred, truth, palette)
    yellow = list(palette.object_names).index("#d2a44a")
    assert found["drawn"][0, yellow] == by_hand and 0 < by_hand < 16
    assert metrics.sprites_kept(found)[0].tolist() == [by_hand / 16]


def test_a_pixel_counts_for_its_nearest_palette_colour_only():
    lives = (195, 144, 61)  # a static colour 28 from the yellow: within the tolerance of both
    still = np.stack([frame([(lives, 30, 40)]) for _ in range(6)])
    found = metrics.find_palette(np.concatenate([video(), still[None]], axis=0))
    truth = frame([(YELLOW, 10, 10)])
    drawn = frame([(YELLOW, 10, 10), ((200, 150, 64), 30, 40)])  # nearer the lives' colour
    unit = [pipeline.to_unit(np.stack([image])) for image in (drawn, truth)]
    assert metrics.sprites_kept(metrics.sprite_counts(*unit, found))[0].tolist() == [1.0]


def test_natural_video_is_refused_in_one_line():
    noise = np.random.default_rng(0).integers(0, 256, (1, 3, 32, 32, 3), dtype=np.uint8)
    with pytest.raises(DataError, match="small-palette frames"):
        metrics.find_palette(noise)
    assert evaluate.find_palette(noise) is None


def test_evaluate_score_reports_the_sprites_per_group(palette):
    sequences = video(7)
    truths = sequences[:, 4:]
    predictions = pipeline.to_unit(np.repeat(sequences[:, 3:4], 3, axis=1))  # copy_last
    masks = np.ones(truths.shape[:4], bool)
    values = evaluate.score(predictions, truths, masks, palette=palette)
    groups = ["objects", *palette.object_names]
    assert {r for m, r in values if m == "sprite_mass"} == set(groups)
    # copy_last keeps the mass; the squares move 2 px a frame, so at horizon r the truth's
    # columns lie 2r px away: 4, 3 and 1 of their 4 columns within 3 px of the copy
    assert np.allclose(values["sprite_mass", "objects"], 1.0)
    assert values["sprite_placed", "objects"][:, 0].tolist() == [1.0, 12 / 16, 4 / 16]
