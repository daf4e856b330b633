"""The paper's image-quality metrics, one value per image, and the moving-area masks they use.

PSNR, SSIM and sharpness difference (Mathieu et al. 2016, section 4 and Table 1) take frames
(batch, height, width, 3) as float in [-1, 1] (numpy arrays or eager tensors) and score them on
the 8-bit scale of the paper: `(x + 1) * 127.5`, peak 255, *not* rounded to integers (a
prediction is scored as the network made it). They return float64 (batch,) arrays.

Moving areas. The paper scores only pixels that move. Given a bool `mask` (batch, height, width),
each metric here averages over the masked pixels only; an image whose mask selects no pixel gets
NaN (average with `np.nanmean`). The official evaluation (coupriec/VideoPredictionICLR2016,
test-frame-prediction-on-ucf-rec_gdl.lua) instead sets the static pixels of both images to one
constant and scores the whole frame: static pixels then count as perfect (zero error, SSIM 1), so
its PSNR is the moving-area PSNR raised by -10 log10(moving fraction) and its SSIM is pulled
towards 1, by amounts that depend on how much of each frame moves. Averaging over the mask scores
the moving area itself, which is what the paper describes, and stays comparable across videos.

Other differences from that script (image_error_measures.lua), so the numbers can be related:
- it maps [-1, 1] to the 8-bit scale with a factor 128, not 127.5 (its PSNR is 0.034 dB lower);
- it leaves out of its averages the frames whose PSNR is 50 dB or more; this module instead
  clips PSNR and sharpness difference at 50 dB (a chosen cap: an RMS error of 0.81 levels for
  PSNR), so that every predictor is averaged over the same frames and an exact copy (infinite
  PSNR) weighs no more than a near-exact one; its zero-error floor is 1e-4 (88.1 dB);
- its sharpness error multiplies an L1 mean on [-1, 1] by 128^2 instead of 127.5, so its
  sharpness values sit 10 log10(128^2 / 127.5) = 21.09 dB below this module's for the same frames
  (if Table 1 came from that script, its ~25 dB are ~46 dB here); it also skips the last row and
  column and divides by the full pixel count;
- its SSIM uses 'full' (zero-padded) filtering and averages the enlarged map; here only windows
  that lie wholly inside the frame count (VALID filtering, as tf.image.ssim and Wang et al.'s code).

`tf1_compat=True` gives the numbers of the TensorFlow 1 implementation (dyelax, Code/utils.py):
peak 1 on [-1, 1] values, whole frames. Its PSNR is 10 log10(1 / MSE_[-1,1]) while the 8-bit one
is 10 log10(255^2 / (127.5^2 MSE_[-1,1])) = 10 log10(4 / MSE_[-1,1]): the 127.5 cancels against the
peak 255, and only peak / value range differs (1/2 against 1), so TF1 PSNR = PSNR - 20 log10(2),
6.02 dB lower. Its sharpness error is an L1 (linear in the scale) under a squared peak: on the
same pixels it is 10 log10(255^2 / 127.5) = 27.08 dB below this module's; its gradients are
forward differences with zeros past the bottom and right edges (conv2d SAME), over all pixels.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from avgkit.errors import DataError

PIXEL_MAX = 255.0  # 8-bit images, as the paper reports
# PSNR and sharpness difference are clipped at this chosen cap: 50 dB is an RMS error of 0.81
# levels for PSNR, a mean gradient error of 0.65 levels for sharpness. An exact copy (say, of a
# frame in which nothing moves) would otherwise score infinity, or a floor's 148 dB, and lift a
# mean over sequences by tens of dB on its own. tf1_compat scores are not clipped, as TF1's.
DB_CEILING = 50.0
RANGE_SLACK = 1e-3  # values may stray this far outside [-1, 1] (rounding)
LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, Torch's image.rgb2y in the official code
SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03  # Wang et al. 2004
FLOW_THRESHOLD = 0.5  # pixels of Farneback flow length
FLOW_PADDING = 16  # replicated pixels around the frames while computing the flow
DIFF_THRESHOLD = 10.0  # 8-bit levels, largest channel difference
DIFF_DILATION = 2  # pixels added around a frame-difference mask
# cv2.calcOpticalFlowFarneback's pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, flags
FARNEBACK = (0.5, 3, 15, 3, 5, 1.2, cv2.OPTFLOW_FARNEBACK_GAUSSIAN)
# The sprite measure (`sprite_counts`). Ms. Pac-Man's nearest colours lie 35 apart (the red
# ghost and the fruit); 30 keeps a sprite pixel within 17% of a full-scale channel.
SPRITE_TOLERANCE = 30.0  # RGB distance, 8-bit levels
SPRITE_REACH = 3  # pixels: how far a sprite may be drawn from its place and count as placed
MOVING_SHARE = 0.1  # measured on Ms. Pac-Man: sprites 0.24-0.30, maze, pills, score <= 0.02
PALETTE_MIN_SHARE = 1e-5  # of all pixels: a colour rarer than this is noise, not the palette's
PALETTE_MAX = 64  # colours
PALETTE_COVER = 0.99  # share of the pixels the palette must cover
COUNTS = ("truth", "drawn", "placed")


def psnr(prediction, target, mask=None, tf1_compat=False) -> np.ndarray:
    """Peak signal-to-noise ratio 10 log10(255^2 / MSE) per image, in dB.

    prediction, target: float (batch, H, W, 3) in [-1, 1], scored as (x + 1) * 127.5, unrounded;
    mask: optional bool (batch, H, W), the MSE over masked pixels (all channels), NaN if none.
    Clipped at 50 dB (DB_CEILING; a zero MSE scores 50). tf1_compat: the TF1 implementation's
    10 log10(1 / MSE) on [-1, 1] values, whole frames, unclipped (infinite for a zero MSE; 6.02
    dB below the default otherwise; no mask).
    Returns float64 (batch,).
    """
    prediction, target = _pair(prediction, target)
    if tf1_compat:
        _no_mask(mask)
        error = np.mean((prediction - target) ** 2, axis=(1, 2, 3))
        return _decibels(error, peak=1.0, ceiling=np.inf)
    error = ((prediction - target) * 127.5) ** 2
    return _decibels(_masked_mean(error, _mask(mask, prediction.shape)), PIXEL_MAX)


def ssim(prediction, target, mask=None) -> np.ndarray:
    """Structural similarity (Wang et al. 2004) per image, in [-1, 1], 1 for identical images.

    prediction, target: float (batch, H, W, 3) in [-1, 1], H and W >= 11, scored as BT.601 luma
    of (x + 1) * 127.5, unrounded, as the official evaluation; 11x11 Gaussian window, sigma 1.5,
    K1 0.01, K2 0.03, L 255. Only windows wholly inside the frame count: the SSIM map is
    (H - 10, W - 10), its pixel (i, j) the window centred on image pixel (i + 5, j + 5).
    mask: optional bool (batch, H, W); the mean of the map over windows whose centre is masked
    (so masked pixels within 5 px of the border drop out), NaN if none. The map is that of
    tf.image.ssim (VALID windows, no sample-covariance correction), computed in float64 with a
    separable filter: tf.image's 11x11 depthwise convolution took 2 s for 13 frames here, most
    of an evaluation. Returns float64 (batch,).
    """
    prediction, target = _pair(prediction, target, min_size=SSIM_WINDOW)
    mask = _mask(mask, prediction.shape)
    ssim_map = np.stack(
        [
            _ssim_map(a, b)
            for a, b in zip((prediction + 1.0) * 127.5 @ LUMA, (target + 1.0) * 127.5 @ LUMA)
        ]
    )
    if mask is not None:
        border = SSIM_WINDOW // 2
        mask = mask[:, border:-border, border:-border]
    return _masked_mean(ssim_map, mask)


def _ssim_map(x, y) -> np.ndarray:
    """SSIM of float64 luma images (H, W) on the 0-255 scale, per VALID window: (H - 10, W - 10)."""
    kernel = cv2.getGaussianKernel(SSIM_WINDOW, SSIM_SIGMA)
    border = SSIM_WINDOW // 2

    def blur(image):
        return cv2.sepFilter2D(image, cv2.CV_64F, kernel, kernel)[border:-border, border:-border]

    mean_x, mean_y = blur(x), blur(y)
    var_x = blur(x * x) - mean_x**2
    var_y = blur(y * y) - mean_y**2
    cov = blur(x * y) - mean_x * mean_y
    c1, c2 = (SSIM_K1 * PIXEL_MAX) ** 2, (SSIM_K2 * PIXEL_MAX) ** 2
    return ((2 * mean_x * mean_y + c1) * (2 * cov + c2)) / (
        (mean_x**2 + mean_y**2 + c1) * (var_x + var_y + c2)
    )


def sharp_diff(prediction, target, mask=None, tf1_compat=False) -> np.ndarray:
    """Sharpness difference per image, in dB (higher: gradients closer to the target's).

    10 log10(255^2 / mean |(gi Y + gj Y) - (gi Yh + gj Yh)|) with gi Y = |Y[i,j] - Y[i-1,j]|,
    gj Y = |Y[i,j] - Y[i,j-1]|, Y the target and Yh the prediction, the mean over the interior
    pixels (i, j >= 1) and the channels. prediction, target: float (batch, H, W, 3) in [-1, 1],
    H and W >= 2, scored as (x + 1) * 127.5, unrounded; mask: optional bool (batch, H, W), the
    mean over masked interior pixels, NaN if none. Clipped at 50 dB, as `psnr`.
    tf1_compat: the TF1 implementation's 10 log10(1 / mean) on [-1, 1] values, with forward
    differences, zeros past the bottom and right edges and all pixels (no mask), unclipped.
    Returns float64 (batch,).
    """
    prediction, target = _pair(prediction, target, min_size=2)
    if tf1_compat:
        _no_mask(mask)
        error = np.abs(_tf1_gradient_sum(target) - _tf1_gradient_sum(prediction))
        return _decibels(np.mean(error, axis=(1, 2, 3)), peak=1.0, ceiling=np.inf)
    mask = _mask(mask, prediction.shape)
    error = np.abs(_gradient_sum(target * 127.5) - _gradient_sum(prediction * 127.5))
    return _decibels(_masked_mean(error, None if mask is None else mask[:, 1:, 1:]), PIXEL_MAX)


def crispness(prediction, target, mask=None) -> np.ndarray:
    """How crisp the prediction is beside the truth: the ratio of their mean gradient magnitudes,
    mean(g Yh) / mean(g Y), per image.

    g Y = sum over channels of |Y[i,j] - Y[i-1,j]| + |Y[i,j] - Y[i,j-1]|, on the interior pixels
    (i, j >= 1), over the masked ones when `mask` (bool (batch, H, W)) is given. 1 when the
    prediction has as much edge as the truth, below 1 when blurred, above 1 with edges the truth
    lacks. Unlike `sharp_diff`, a sharp sprite drawn a pixel off loses nothing here. prediction,
    target: float (batch, H, W, 3) in [-1, 1], H and W >= 2. Returns float64 (batch,), NaN where
    the mask is empty or the truth has no gradient there.
    """
    prediction, target = _pair(prediction, target, min_size=2)
    mask = _mask(mask, prediction.shape)
    inner = None if mask is None else mask[:, 1:, 1:]
    predicted = _masked_mean(_gradient_sum(prediction), inner)
    true = _masked_mean(_gradient_sum(target), inner)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(true > 0, predicted / np.where(true > 0, true, 1.0), np.nan)


@dataclasses.dataclass(frozen=True)
class Palette:
    """The colours of small-palette frames (Atari games), found by `find_palette`.

    colours: uint8 (P, 3), every colour the frames draw, most frequent first; objects: int (K,),
    the indices in `colours` of the object colours (those that move), most frequent first.
    """

    colours: np.ndarray
    objects: np.ndarray

    @property
    def object_names(self) -> list[str]:
        """The object colours as "#rrggbb"."""
        return ["#" + bytes(self.colours[i].tolist()).hex() for i in self.objects]


def find_palette(videos) -> Palette:
    """The palette of uint8 videos (N, T, H, W, 3), T >= 2 consecutive frames each, and which
    of its colours belong to objects: a colour is in the palette when it covers at least
    PALETTE_MIN_SHARE of the pixels, and is an object's when at least MOVING_SHARE of its pixels
    held another colour in the frame before (a sprite moves over the background; the maze, the
    background and the score bar stay). DataError if the frames are not small-palette: more than
    PALETTE_MAX colours, or less than PALETTE_COVER of the pixels in them."""
    videos = np.asarray(videos)
    if videos.ndim != 5 or videos.shape[-1] != 3 or videos.shape[1] < 2 or videos.dtype != np.uint8:
        raise DataError(
            f"videos: expected uint8 (N, T >= 2, H, W, 3); got {videos.dtype} {videos.shape}"
        )
    codes = _colour_codes(videos)
    changed = codes[:, 1:] != codes[:, :-1]
    counts = np.bincount(codes[:, 1:].ravel(), minlength=1 << 24)
    moved = np.bincount(codes[:, 1:][changed], minlength=1 << 24)
    found = np.flatnonzero(counts)
    counts, moved = counts[found], moved[found]
    keep = counts >= PALETTE_MIN_SHARE * counts.sum()
    order = np.argsort(-counts[keep], kind="stable")
    colours, share = found[keep][order], (moved / counts)[keep][order]
    cover = counts[keep].sum() / counts.sum()
    if len(colours) > PALETTE_MAX or cover < PALETTE_COVER:
        raise DataError(
            f"frames have {len(found)} colours, {len(colours)} of them frequent, covering "
            f"{cover:.1%} of the pixels: the sprite measure needs small-palette frames "
            f"(at most {PALETTE_MAX} colours covering {PALETTE_COVER:.0%}), as Atari games draw"
        )
    rgb = np.stack([colours >> 16, (colours >> 8) & 255, colours & 255], axis=-1)
    return Palette(rgb.astype(np.uint8), np.flatnonzero(share >= MOVING_SHARE))


def sprite_counts(prediction, target, palette: Palette) -> dict[str, np.ndarray]:
    """Per image and object colour, int64 (batch, K): `truth`, the target's pixels of that
    colour; `drawn`, the prediction's; `placed`, the target's pixels with a prediction pixel of
    the same colour within SPRITE_REACH pixels (a (2 * reach + 1)^2 square).

    A pixel is of colour c when c is its nearest palette colour and lies within
    SPRITE_TOLERANCE (RGB distance on the 8-bit scale) of it: a blurred sprite's pixels, mixed
    with the background, fall outside and are not counted. prediction, target: float
    (batch, H, W, 3) in [-1, 1], scored unrounded as (x + 1) * 127.5.
    """
    prediction, target = _pair(prediction, target)
    predicted, true = palette_labels(prediction, palette), palette_labels(target, palette)
    kernel = np.ones((2 * SPRITE_REACH + 1,) * 2, np.uint8)
    counts = {key: np.zeros((len(true), len(palette.objects)), np.int64) for key in COUNTS}
    for k, colour in enumerate(palette.objects):
        truth, drawn = true == colour, predicted == colour
        near = np.stack([cv2.dilate(d.astype(np.uint8), kernel) > 0 for d in drawn])
        counts["truth"][:, k] = truth.sum(axis=(1, 2))
        counts["drawn"][:, k] = drawn.sum(axis=(1, 2))
        counts["placed"][:, k] = (truth & near).sum(axis=(1, 2))
    return counts


def sprites_kept(counts: dict[str, np.ndarray], columns=None) -> tuple[np.ndarray, np.ndarray]:
    """(mass, placed), float64 (batch,), over the object colours `columns` of `sprite_counts`
    (default all): mass = drawn / truth pixels (1 as crisp as the truth, 0 blurred away or
    gone, above 1 invented); placed = the share of the truth's pixels with a same-colour
    prediction pixel near. NaN where the truth has no pixel of those colours."""
    columns = slice(None) if columns is None else list(columns)
    truth, drawn, placed = (counts[key][:, columns].sum(axis=1) for key in COUNTS)
    share = [np.where(truth > 0, part / np.maximum(truth, 1), np.nan) for part in (drawn, placed)]
    return share[0], share[1]


def palette_labels(images, palette: Palette) -> np.ndarray:
    """int64 (batch, H, W): per pixel the index of its nearest palette colour when within
    SPRITE_TOLERANCE of it, else -1. images: float (batch, H, W, 3) in [-1, 1]."""
    levels = (_images(images, "images", 1).astype(np.float32) + 1.0) * 127.5
    colours = palette.colours.astype(np.float32)
    # squared distances |x - c|^2 = |x|^2 - 2 x.c + |c|^2, (batch, H, W, P)
    distance = (levels**2).sum(-1, keepdims=True) - 2 * levels @ colours.T + (colours**2).sum(-1)
    nearest = distance.argmin(axis=-1)
    close = np.take_along_axis(distance, nearest[..., None], -1)[..., 0] <= SPRITE_TOLERANCE**2
    return np.where(close, nearest, -1)


def _colour_codes(videos) -> np.ndarray:
    """uint8 (..., 3) -> int64 (...) codes 0xRRGGBB."""
    videos = videos.astype(np.int64)
    return (videos[..., 0] << 16) | (videos[..., 1] << 8) | videos[..., 2]


def motion_mask(last_input, target, method="flow", threshold=None) -> np.ndarray:
    """Pixels that move between the last input frame and the target: bool (batch, H, W).

    last_input, target: float (batch, H, W, 3) in [-1, 1].
    method "flow": OpenCV's Farneback dense optical flow (Gaussian 15 px window, 3 pyramid
    levels) from the last input to the target, on their BT.601 grayscale rounded to uint8;
    moving where the flow is longer than `threshold` pixels (default 0.5). The frames are padded
    by 16 replicated pixels first: unpadded, Farneback finds up to 0.7 px of flow at the edge of
    two identical Ms. Pac-Man frames. The paper's mask came from EpicFlow (a pixel of its
    colour-coded flow image with a channel below 0.2), an edge-preserving flow with no Python
    package; Farneback's smoother field reaches further around moving objects (7-18 px around
    a 10 px square moving 1-10 px), covering their old and new places. On Ms. Pac-Man it flags
    about 95% of the pixels whose colour changes by more than 10 levels; the rest are scattered
    edge pixels and score digits, so it is not merged with "diff" (`flow | diff` of the two
    masks does that).
    method "diff": moving where the largest channel difference on the 8-bit scale exceeds
    `threshold` (default 10 levels), dilated by 2 pixels (a 5x5 square) to cover the edges of
    objects, where a blurred prediction errs. It misses the inside of a flat-coloured object
    that still overlaps its old place (nothing changes there).
    """
    last_input, target = _pair(last_input, target, names=("last_input", "target"))
    if method == "flow":
        threshold = FLOW_THRESHOLD if threshold is None else threshold
        pairs = zip(_gray(last_input), _gray(target))
        return np.stack([_flow_length(first, second) > threshold for first, second in pairs])
    if method == "diff":
        threshold = DIFF_THRESHOLD if threshold is None else threshold
        changed = np.max(np.abs(target - last_input), axis=-1) * 127.5 > threshold
        kernel = np.ones((2 * DIFF_DILATION + 1,) * 2, np.uint8)
        return np.stack([cv2.dilate(m.astype(np.uint8), kernel) > 0 for m in changed])
    raise ValueError(f"motion_mask: method {method!r}: expected 'flow' or 'diff'")


def optical_flow(first, second) -> np.ndarray:
    """The dense flow `motion_mask` uses, from `first` to `second`, float (batch, H, W, 3) in
    [-1, 1]: float32 (batch, H, W, 2), (dx, dy) in pixels, such that first[y, x] is seen at
    second[y + dy, x + dx]."""
    first, second = _pair(first, second, names=("first", "second"))
    pairs = zip(_gray(first), _gray(second))
    return np.stack([_farneback(a, b) for a, b in pairs])


def _pair(prediction, target, min_size=1, names=("prediction", "target")):
    """Both image batches as float64, checked: same shape (batch, H, W, 3), values in [-1, 1]."""
    prediction, target = (_images(x, n, min_size) for x, n in zip((prediction, target), names))
    if prediction.shape != target.shape:
        raise DataError(
            f"{names[0]} {prediction.shape} and {names[1]} {target.shape}: expected the same shape"
        )
    return prediction, target


def _images(images, name, min_size):
    """One checked image batch as float64; DataError naming `name` otherwise."""
    array = np.asarray(images)
    if array.ndim != 4 or array.shape[-1] != 3 or min(array.shape[1:3]) < min_size:
        raise DataError(
            f"{name}: expected images (batch, height, width, 3) with height and width >= "
            f"{min_size}; got shape {array.shape}"
        )
    if array.dtype.kind in "biu":
        raise DataError(
            f"{name}: expected float images in [-1, 1]; got {array.dtype} (uint8 frames convert "
            "with avgkit.data.pipeline.to_unit)"
        )
    array = array.astype(np.float64)
    if array.size and not np.all(np.abs(array) <= 1.0 + RANGE_SLACK):
        raise DataError(
            f"{name}: expected values in [-1, 1]; got {array.min():.4g} to {array.max():.4g}"
        )
    return array


def _mask(mask, shape):
    """None, or the checked bool (batch, H, W) mask for images of `shape`."""
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != shape[:3]:
        raise DataError(
            f"mask: expected bool (batch, height, width) = {shape[:3]}; "
            f"got {mask.dtype} {mask.shape}"
        )
    return mask


def _no_mask(mask):
    if mask is not None:
        raise ValueError("tf1_compat=True scores whole frames (TF1 had no masks); pass mask=None")


def _masked_mean(values, mask):
    """Mean of (batch, h, w[, c]) values per image over all pixels or the (batch, h, w) mask."""
    values = values.reshape(*values.shape[:3], -1)
    if mask is None:
        return values.mean(axis=(1, 2, 3))
    total = np.sum(values * mask[..., None], axis=(1, 2, 3))
    count = np.sum(mask, axis=(1, 2)) * values.shape[-1]
    with np.errstate(invalid="ignore"):
        return total / count  # 0 / 0 = NaN for an empty mask


def _decibels(error, peak, ceiling=DB_CEILING):
    """10 log10(peak^2 / error), at most `ceiling` (a zero error scores it); NaN stays NaN."""
    with np.errstate(divide="ignore"):
        return np.minimum(10.0 * np.log10(peak**2 / error), ceiling)


def _gradient_sum(images):
    """gi + gj of the paper at the interior pixels: (batch, H, W, c) -> (batch, H - 1, W - 1, c)."""
    core = images[:, 1:, 1:]
    return np.abs(core - images[:, :-1, 1:]) + np.abs(core - images[:, 1:, :-1])


def _tf1_gradient_sum(images):
    """TF1's |x[i,j] - x[i+1,j]| + |x[i,j] - x[i,j+1]|, zeros past the bottom and right edges."""
    padded = np.pad(images, [(0, 0), (0, 1), (0, 1), (0, 0)])
    core = padded[:, :-1, :-1]
    return np.abs(core - padded[:, 1:, :-1]) + np.abs(core - padded[:, :-1, 1:])


def _gray(images):
    """(batch, H, W, 3) in [-1, 1] -> uint8 BT.601 grayscale (batch, H, W), as Farneback takes."""
    frames = np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames]


def _flow_length(first, second):
    """Length in pixels of the Farneback flow from uint8 (H, W) `first` to `second`."""
    flow = _farneback(first, second)
    return np.hypot(flow[..., 0], flow[..., 1])


def _farneback(first, second):
    """Farneback flow (H, W, 2) from uint8 (H, W) `first` to `second`, the frames padded by
    FLOW_PADDING replicated pixels while it is computed."""
    first, second = (
        cv2.copyMakeBorder(frame, *(FLOW_PADDING,) * 4, cv2.BORDER_REPLICATE)
        for frame in (first, second)
    )
    flow = cv2.calcOpticalFlowFarneback(first, second, None, *FARNEBACK)
    return flow[FLOW_PADDING:-FLOW_PADDING, FLOW_PADDING:-FLOW_PADDING]
