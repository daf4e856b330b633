"""The metrics against independent computations: pixel loops in numpy, hand-computed examples,
scikit-image's SSIM, the TF1 implementation's own ops; and the moving-area masks on a moving
square."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import tensorflow as tf
from skimage.metrics import structural_similarity

from avgkit import metrics
from avgkit.data.frames import list_videos, read_video
from avgkit.errors import DataError
from avgkit.train import batch_metrics

LUMA = [0.299, 0.587, 0.114]  # BT.601


def images(seed, shape=(2, 12, 14, 3)):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def random_mask(seed, shape=(2, 12, 14)):
    return np.random.default_rng(seed).random(shape) < 0.4


def numpy_psnr(pred, target, mask=None):
    """10 log10(255^2 / MSE) on (x + 1) * 127.5, pixel by pixel over the masked pixels."""
    batch, height, width, channels = target.shape
    scores = []
    for n in range(batch):
        total, count = 0.0, 0
        for i in range(height):
            for j in range(width):
                if mask is None or mask[n, i, j]:
                    for c in range(channels):
                        a = (float(pred[n, i, j, c]) + 1) * 127.5
                        b = (float(target[n, i, j, c]) + 1) * 127.5
                        total, count = total + (a - b) ** 2, count + 1
        scores.append(10 * math.log10(255**2 / (total / count)) if count else math.nan)
    return np.array(scores)


def numpy_sharp_diff(pred, target, mask=None):
    """The paper's sharpness difference, pixel by pixel over masked pixels with i, j >= 1."""
    y, yh = (target.astype(np.float64) + 1) * 127.5, (pred.astype(np.float64) + 1) * 127.5
    batch, height, width, channels = y.shape
    scores = []
    for n in range(batch):
        total, count = 0.0, 0
        for i in range(1, height):
            for j in range(1, width):
                if mask is None or mask[n, i, j]:
                    for c in range(channels):
                        true = abs(y[n, i, j, c] - y[n, i - 1, j, c])
                        true += abs(y[n, i, j, c] - y[n, i, j - 1, c])
                        made = abs(yh[n, i, j, c] - yh[n, i - 1, j, c])
                        made += abs(yh[n, i, j, c] - yh[n, i, j - 1, c])
                        total, count = total + abs(true - made), count + 1
        scores.append(10 * math.log10(255**2 / (total / count)) if count else math.nan)
    return np.array(scores)


def tf1_sharp_diff(pred, target):
    """The TF1 implementation's per-frame sharpness: conv2d with [-1, 1] filters, SAME padding."""
    pos = np.identity(3)
    filter_x = np.stack([-pos, pos])[None]  # (1, 2, 3, 3)
    filter_y = np.stack([pos[None], -pos[None]])  # (2, 1, 3, 3)

    def grad_sum(frames):
        frames = tf.constant(frames, tf.float64)
        dx = tf.nn.conv2d(frames, filter_x, 1, "SAME")
        dy = tf.nn.conv2d(frames, filter_y, 1, "SAME")
        return tf.abs(dx) + tf.abs(dy)

    error = tf.reduce_mean(tf.abs(grad_sum(target) - grad_sum(pred)), axis=[1, 2, 3])
    return 10 * np.log10(1 / error.numpy())


def skimage_ssim_maps(pred, target):
    """scikit-image's SSIM maps on BT.601 luma, cropped to the windows inside the frame."""
    maps = []
    for a, b in zip(pred, target):
        luma_a, luma_b = (((x.astype(np.float64) + 1) * 127.5) @ LUMA for x in (a, b))
        _, full = structural_similarity(
            luma_a,
            luma_b,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=255,
            full=True,
        )
        maps.append(full[5:-5, 5:-5])
    return np.stack(maps)


@pytest.fixture(scope="module")
def frames(mspacman):
    """Three consecutive real Ms. Pac-Man test frames, float32 (3, 210, 160, 3) in [-1, 1]."""
    videos, _ = list_videos(mspacman / "Test")
    return read_video(videos[0], range(30, 33)).astype(np.float32) / 127.5 - 1


def test_psnr_and_sharp_diff_of_one_pixel_off_by_25_5_levels():
    target = np.zeros((1, 4, 4, 3), np.float32)
    pred = target.copy()
    pred[0, 1, 1, 0] = 0.2  # 25.5 levels on the 8-bit scale
    only_11 = np.zeros((1, 4, 4), bool)
    only_11[0, 1, 1] = True
    # MSE = 25.5^2 / 48 and 255^2 / MSE = 4800; on pixel (1, 1) alone, 300
    assert metrics.psnr(pred, target) == pytest.approx([10 * math.log10(4800)])
    assert metrics.psnr(pred, target, only_11) == pytest.approx([10 * math.log10(300)])
    # peak 1 on [-1, 1]: MSE 0.04 / 48
    assert metrics.psnr(pred, target, tf1_compat=True) == pytest.approx([10 * math.log10(1200)])
    # gradient sums 51 at (1, 1), 25.5 at (2, 1) and (1, 2), over 3x3 interior pixels x 3 channels
    assert metrics.sharp_diff(pred, target) == pytest.approx([10 * math.log10(255**2 * 27 / 102)])
    only_11_score = metrics.sharp_diff(pred, target, only_11)  # 51 over 3 channels
    assert only_11_score == pytest.approx([10 * math.log10(255**2 / 17)])


@pytest.mark.parametrize("masked", [False, True])
def test_psnr_and_sharp_diff_match_pixel_loops(masked):
    pred, target = images(0), images(1)
    mask = random_mask(2) if masked else None
    np.testing.assert_allclose(
        metrics.psnr(pred, target, mask), numpy_psnr(pred, target, mask), 1e-9
    )
    np.testing.assert_allclose(
        metrics.sharp_diff(pred, target, mask), numpy_sharp_diff(pred, target, mask), 1e-9
    )


def test_whole_frame_figures_agree_with_the_training_logs():
    pred, target = tf.constant(images(3)), tf.constant(images(4))  # tensors are taken too
    assert np.mean(metrics.psnr(pred, target)) == pytest.approx(
        float(batch_metrics.batch_psnr(pred, target)), abs=1e-4
    )
    assert np.mean(metrics.sharp_diff(pred, target)) == pytest.approx(
        float(batch_metrics.batch_sharp_diff(pred, target)), abs=1e-4
    )


def test_scores_are_clipped_at_50_db_and_an_empty_mask_is_nan():
    frame = images(5)
    np.testing.assert_allclose(metrics.psnr(frame, frame), [50.0] * 2)
    np.testing.assert_allclose(metrics.sharp_diff(frame, frame), [50.0] * 2)
    np.testing.assert_allclose(batch_metrics.batch_psnr(frame, frame), 50.0)
    np.testing.assert_allclose(batch_metrics.batch_sharp_diff(frame, frame), 50.0)
    assert np.isinf(metrics.psnr(frame, frame, tf1_compat=True)).all()  # TF1 had no cap
    # every pixel moved 0.9 levels (49.06 dB) or 0.7 levels (51.22 dB, clipped to 50)
    inward = -np.sign(frame) / 127.5
    np.testing.assert_allclose(
        metrics.psnr(frame + 0.9 * inward, frame), 10 * math.log10(255**2 / 0.81), rtol=1e-4
    )
    np.testing.assert_allclose(metrics.psnr(frame + 0.7 * inward, frame), 50.0)
    np.testing.assert_allclose(metrics.ssim(frame, frame), [1.0] * 2, atol=1e-6)

    pred, target = images(6, (2, 16, 16, 3)), images(7, (2, 16, 16, 3))
    mask = np.zeros((2, 16, 16), bool)
    mask[0] = True
    mask[1, 0, :] = mask[1, :, 0] = True  # first row and column: no interior pixel, no window
    psnr, sharp, ssim = (
        metric(pred, target, mask) for metric in (metrics.psnr, metrics.sharp_diff, metrics.ssim)
    )
    assert np.isfinite([psnr[0], sharp[0], ssim[0]]).all() and np.isfinite(psnr[1])
    assert np.isnan(sharp[1]) and np.isnan(ssim[1])
    mask[1] = False
    assert np.isnan(metrics.psnr(pred, target, mask)[1])


def test_tf1_compat_matches_the_tf1_formulas():
    pred, target = images(8), images(9)
    tf1_psnr = 10 * np.log10(1 / np.mean((pred.astype(np.float64) - target) ** 2, axis=(1, 2, 3)))
    np.testing.assert_allclose(metrics.psnr(pred, target, tf1_compat=True), tf1_psnr, 1e-9)
    np.testing.assert_allclose(
        metrics.sharp_diff(pred, target, tf1_compat=True), tf1_sharp_diff(pred, target), 1e-9
    )
    # 255 / 127.5 = 2: peak over value range is 1 on the 8-bit scale, 1/2 for TF1
    np.testing.assert_allclose(
        metrics.psnr(pred, target, tf1_compat=True),
        metrics.psnr(pred, target) - 20 * math.log10(2),
        rtol=0,
        atol=1e-9,
    )
    with pytest.raises(ValueError, match="TF1 had no masks"):
        metrics.psnr(pred, target, random_mask(10), tf1_compat=True)
    with pytest.raises(ValueError, match="TF1 had no masks"):
        metrics.sharp_diff(pred, target, random_mask(10), tf1_compat=True)


@pytest.mark.parametrize("masked", [False, True])
def test_ssim_matches_scikit_image_on_random_images(masked):
    pred, target = images(11, (2, 24, 30, 3)), images(12, (2, 24, 30, 3))
    reference = skimage_ssim_maps(pred, target)
    if masked:
        mask = random_mask(13, (2, 24, 30))
        cropped = mask[:, 5:-5, 5:-5]
        expected = [r[m].mean() for r, m in zip(reference, cropped)]
    else:
        mask, expected = None, reference.mean(axis=(1, 2))
    np.testing.assert_allclose(metrics.ssim(pred, target, mask), expected, rtol=0, atol=1e-5)


def test_ssim_matches_scikit_image_on_ms_pacman(frames):
    target = frames[[0, 0, 1]]
    pred = np.stack(
        [
            cv2.GaussianBlur(frames[0], (0, 0), 1.0),  # blurred
            np.roll(frames[0], 2, axis=1),  # shifted by 2 px
            frames[2],  # the next frame
        ]
    )
    reference = skimage_ssim_maps(pred, target)
    np.testing.assert_allclose(metrics.ssim(pred, target), reference.mean(axis=(1, 2)), atol=1e-5)
    mask = metrics.motion_mask(pred, target, method="diff")
    expected = [r[m].mean() for r, m in zip(reference, mask[:, 5:-5, 5:-5])]
    np.testing.assert_allclose(metrics.ssim(pred, target, mask), expected, atol=1e-4)


def test_blur_lowers_every_score_but_sharpness_prefers_a_sharp_shift(frames):
    target = frames[:1]
    blurred = [cv2.GaussianBlur(target[0], (0, 0), sigma)[None] for sigma in (0.5, 1.0, 2.0)]
    for metric in (metrics.psnr, metrics.sharp_diff, metrics.ssim):
        scores = [metric(b, target)[0] for b in blurred]
        assert scores[0] > scores[1] > scores[2], metric.__name__
    # a sharp frame 1 px off: worse PSNR than the sigma 1 blur, better sharpness difference
    shifted = np.roll(target, 1, axis=2)
    assert metrics.psnr(shifted, target)[0] < metrics.psnr(blurred[1], target)[0] - 1
    assert metrics.sharp_diff(shifted, target)[0] > metrics.sharp_diff(blurred[1], target)[0] + 0.3


def moving_square(flat: bool, step: int = 3):
    """Two frames (1, 64, 96, 3) in [-1, 1]: a 10 px square moves `step` px right over static
    noise; returns (last_input, target, bool (1, 64, 96) of the square in either frame)."""
    rng = np.random.default_rng(14)
    background = rng.integers(0, 100, (64, 96, 3))
    square = np.full((10, 10, 3), 255) if flat else rng.integers(140, 256, (10, 10, 3))
    first, second = background.copy(), background.copy()
    first[10:20, 30:40] = square
    second[10:20, 30 + step : 40 + step] = square
    where = np.zeros((1, 64, 96), bool)
    where[0, 10:20, 30 : 40 + step] = True
    first, second = ((frame[None] / 127.5 - 1).astype(np.float32) for frame in (first, second))
    return first, second, where


@pytest.mark.parametrize(("method", "flat"), [("flow", True), ("flow", False), ("diff", False)])
def test_motion_mask_finds_a_moving_square_and_not_the_static_background(method, flat):
    last_input, target, square = moving_square(flat)
    mask = metrics.motion_mask(last_input, target, method)
    assert mask.shape == (1, 64, 96) and mask.dtype == bool
    assert mask[square].all()
    far = np.ones((1, 64, 96), bool)
    far[0, :36, 14:59] = False  # the square's places with a 16 px margin
    assert not mask[far].any()
    static = metrics.motion_mask(
        np.repeat(target, 2, 0), np.concatenate([target, last_input]), method
    )
    assert not static[0].any() and static[1].any()


def test_identical_frames_have_no_moving_pixel(frames):
    for method in ("flow", "diff"):
        assert not metrics.motion_mask(frames[:2], frames[:2], method).any()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda a, m: metrics.psnr(a[0], a[0]), r"prediction: expected images \(batch, height"),
        (lambda a, m: metrics.psnr(a[..., :2], a[..., :2]), r"got shape \(2, 12, 14, 2\)"),
        (lambda a, m: metrics.psnr(a, a[:1]), r"expected the same shape"),
        (lambda a, m: metrics.sharp_diff(a, (a + 1).astype(np.uint8)), "target: .*uint8"),
        (lambda a, m: metrics.psnr(a * 127.5 + 127.5, a), r"prediction: expected values in \[-1"),
        (lambda a, m: metrics.psnr(a, a, m[:, :-1]), r"mask: expected bool \(batch, height"),
        (lambda a, m: metrics.psnr(a, a, m.astype(np.uint8)), "mask: expected bool"),
        (lambda a, m: metrics.ssim(a[:, :10], a[:, :10]), "height and width >= 11"),
        (lambda a, m: metrics.motion_mask(a, a[:1]), "last_input .* and target"),
    ],
)
def test_bad_input_gets_a_data_error_naming_the_argument(call, message):
    with pytest.raises(DataError, match=message):
        call(images(15), random_mask(16))


def test_unknown_motion_mask_method():
    with pytest.raises(ValueError, match="expected 'flow' or 'diff'"):
        metrics.motion_mask(images(17), images(18), method="epicflow")


def test_ssim_map_is_that_of_tf_image():
    import tensorflow as tf

    rng = np.random.default_rng(5)
    prediction, target = rng.uniform(-1, 1, (2, 3, 24, 30, 3))
    luma = [tf.constant((x + 1) * 127.5 @ metrics.LUMA, tf.float32)[..., None]
            for x in (prediction, target)]  # fmt: skip
    expected = tf.image.ssim(*luma, 255.0, filter_size=11, filter_sigma=1.5).numpy()
    np.testing.assert_allclose(metrics.ssim(prediction, target), expected, atol=1e-4)


def numpy_gradient_mean(images, mask=None):
    """Mean over interior pixels (i, j >= 1) of sum_c |x[i,j]-x[i-1,j]| + |x[i,j]-x[i,j-1]|,
    by loops, over the masked ones."""
    batch, height, width, channels = images.shape
    means = []
    for n in range(batch):
        total, count = 0.0, 0
        for i in range(1, height):
            for j in range(1, width):
                if mask is None or mask[n, i, j]:
                    x = images[n].astype(np.float64)
                    total += np.sum(np.abs(x[i, j] - x[i - 1, j]) + np.abs(x[i, j] - x[i, j - 1]))
                    count += 1
        means.append(total / count)
    return np.array(means)


@pytest.mark.parametrize("masked", [False, True])
def test_crispness_is_the_ratio_of_mean_gradients_by_pixel_loops(masked):
    pred, target = images(20), images(21)
    mask = random_mask(22) if masked else None
    expected = numpy_gradient_mean(pred, mask) / numpy_gradient_mean(target, mask)
    np.testing.assert_allclose(metrics.crispness(pred, target, mask), expected, 1e-9)


def test_crispness_is_one_for_a_shift_and_falls_with_blur(frames):
    target = frames[:1]
    assert metrics.crispness(target, target)[0] == pytest.approx(1.0)
    shifted = np.roll(target, 1, axis=2)  # a sharp frame 1 px off keeps its edges
    assert metrics.crispness(shifted, target)[0] == pytest.approx(1.0, abs=0.02)
    blurred = [cv2.GaussianBlur(target[0], (0, 0), sigma)[None] for sigma in (0.5, 1.0, 2.0)]
    scores = [metrics.crispness(b, target)[0] for b in blurred]
    assert 1.0 > scores[0] > scores[1] > scores[2]
    flat = np.zeros((1, 4, 4, 3), np.float32)
    empty = np.zeros((1, 4, 4), bool)
    assert np.isnan(metrics.crispness(flat, flat)).all()  # the truth has no gradient
    assert np.isnan(metrics.crispness(target, target, np.zeros(target.shape[:3], bool))).all()
    assert np.isnan(metrics.crispness(flat, flat, empty)).all()
