"""Recursive full-frame predictions (rollouts), baselines, and their evaluation horizon by horizon.

A predictor maps input frames (N, H, W, 3 * hist_len) in [-1, 1] and a number of recursions R to
predictions (N, R, H, W, 3): `rollout` of a trained generator, or a baseline (`BASELINES`). An
action-conditioned generator (trained with --actions) also takes the action taken towards each
frame it predicts, (N, R), which `evaluate` reads from the test videos' actions.csv
(`pipeline.test_actions`); the baselines and the other generators do not use them.
`evaluate` scores predictors on the test sequences of a folder and writes, under runs/<name>:

results/metrics.json   per predictor, metric and region: per-horizon mean, 95% confidence
                       interval, n, and the value of every sequence; what was evaluated
results/metrics.csv    long format: predictor, horizon, metric, region, mean, ci_low, ci_high, n
results/summary.txt    the predictors side by side at horizons 1, 2, 8 and 64
results/metrics.png    per-horizon curves, a panel per metric, whole frame and moving areas
images/evaluate/<sequence>.gif   truth | each predictor, left to right, the inputs first

Metrics from `avgkit.metrics`: PSNR and sharpness difference in dB at peak 255, SSIM and
crispness (the prediction's mean gradient over the truth's), of the predictions as made
(unrounded). Moving areas at horizon r: the pixels that
`metrics.motion_mask` finds moving between the last input frame and truth frame r, so everything
that changed between what the predictor saw and what it must predict (a mask per horizon, from
the truth alone, shared by all predictors). A sequence whose mask is empty has no moving-area
score at that horizon (NaN) and is left out of that mean and its n. The interval is Student's t
over the test sequences: mean +- t(0.975, n - 1) * s / sqrt(n).
"""

from __future__ import annotations

import csv
import dataclasses
import math
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import imageio.v3 as iio
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from avgkit import checkpoints, files, metrics, models, pretrained
from avgkit.config import HIST_LEN, Config
from avgkit.data import pipeline
from avgkit.data.frames import to_uint8
from avgkit.errors import ConfigError, DataError

METRIC_TITLES = {
    "psnr": "PSNR (dB)",
    "ssim": "SSIM",
    "sharp_diff": "sharpness difference (dB)",
    "crispness": "crispness (gradient ratio)",
}
REGIONS = ("whole", "moving")
SPRITE_TITLES = {
    "sprite_mass": "sprites' crisp mass (predicted / true pixels)",
    "sprite_placed": "sprites placed (share of true pixels)",
}
SUMMARY_HORIZONS = (1, 2, 8, 64)  # 64: the recursion depth of the TF1 README's figure
GIF_FRAME_MS = 250  # four frames a second, in every GIF avgkit writes
CSV_COLUMNS = ("predictor", "horizon", "metric", "region", "mean", "ci_low", "ci_high", "n")
# t(0.975, df) for df = 1..30 (Student's t); larger df use a Cornish-Fisher expansion
T975 = (
    12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004,
    2.262157, 2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905,
    2.109816, 2.100922, 2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899,
    2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272,
)  # fmt: skip

Predictor = Callable[[np.ndarray, int], np.ndarray]
_STEPS = weakref.WeakKeyDictionary()  # generator -> {input shape: compiled rollout step}


def rollout(
    generator,
    inputs,
    recursions: int,
    batch_size: int = 8,
    progress: bool = False,
    actions=None,
) -> np.ndarray:
    """Predict `recursions` frames after each history, each from the frames before it.

    generator: G from `avgkit.models.build_generator` (fully convolutional: any frame size);
    inputs: float (N, H, W, 3 * hist_len) in [-1, 1], the input frames in time order;
    actions: for an action-conditioned G (`generator.config.actions`) only, int (N, recursions),
    the action taken towards each predicted frame: any sequence of actions can be played, e.g.
    `avgkit.data.actions.indices([["LEFT"] * R] * N, generator.config.actions)`.
    Prediction r (0-based) sees the last hist_len frames of inputs + predictions 0..r-1 (and
    action r). Returns float32 (N, recursions, H, W, 3) in (-1, 1); histories go `batch_size`
    at a time, through one compiled step (traced once per generator and frame size).
    """
    inputs = np.asarray(inputs, np.float32)
    names = _action_names(generator)
    actions = _checked_actions(actions, names, (len(inputs), recursions))
    step = _compiled_step(generator, inputs.shape[1:])
    outputs = np.empty((len(inputs), recursions, *inputs.shape[1:3], 3), np.float32)
    bar = tqdm(total=len(inputs) * recursions, unit="frame", disable=not progress, leave=False)
    with bar:
        for first in range(0, len(inputs), batch_size):
            history = tf.constant(inputs[first : first + batch_size])
            for r in range(recursions):
                action = [] if actions is None else [actions[first : first + batch_size, r]]
                frame, history = step(history, *action)
                outputs[first : first + batch_size, r] = frame.numpy()
                bar.update(len(frame))
    return outputs


def _action_names(generator) -> tuple[str, ...]:
    """The action set of an action-conditioned G; () for others (and for plain functions)."""
    return getattr(getattr(generator, "config", None), "actions", ())


def _checked_actions(actions, names: tuple[str, ...], shape: tuple[int, int]):
    """`actions` as int32 (N, recursions), or None for a G without actions (`names` empty);
    ConfigError if they are missing or given in vain, DataError if of another shape or outside
    the action set."""
    if names and actions is None:
        raise ConfigError(
            f"this generator is conditioned on {len(names)} actions ({', '.join(names)}); "
            "expected the action of every predicted frame"
        )
    if actions is None:
        return None
    if not names:
        raise ConfigError("actions given, but this generator was trained without --actions")
    actions = np.asarray(actions)
    if actions.shape != shape or actions.dtype.kind not in "iu":
        raise DataError(
            f"actions are {actions.dtype} {actions.shape}; expected int {shape}: an action "
            "index for each predicted frame of each sequence"
        )
    if actions.size and not 0 <= actions.min() <= actions.max() < len(names):
        raise DataError(f"actions hold indices outside 0..{len(names) - 1}, the action set")
    return actions.astype(np.int32)


def _compiled_step(generator, shape):
    """history (batch, *shape) [, action (batch,) for an action-conditioned G] -> (G's
    full-size frame, the history with that frame appended), traced once per generator and frame
    shape and kept while the generator lives."""
    steps = _STEPS.setdefault(generator, {})
    if shape not in steps:
        model = weakref.ref(generator)  # a strong one would keep the generator alive
        signature = [tf.TensorSpec([None, *shape], tf.float32)]
        signature += [tf.TensorSpec([None], tf.int32)] if _action_names(generator) else []

        @tf.function(input_signature=signature)
        def step(history, *action):
            frame = model()(history, *action)[-1]
            return frame, models.next_history(history, frame)

        steps[shape] = step
    return steps[shape]


def copy_last(inputs, recursions: int) -> np.ndarray:
    """Baseline, no motion: every prediction is the last input frame. inputs as `rollout`'s;
    returns float32 (N, recursions, H, W, 3) in [-1, 1]."""
    last = np.asarray(inputs, np.float32)[..., -3:]
    return np.repeat(last[:, None], recursions, axis=1)


def flow_extrapolation(inputs, recursions: int) -> np.ndarray:
    """Baseline, constant motion, the paper's optical-flow comparison: with b the dense flow
    from the last input frame back to the one before (`metrics.optical_flow`, OpenCV's
    Farneback, where the paper used EpicFlow), prediction r (1-based) samples the
    last frame at p + r * b(p), bilinearly, edges repeated. inputs as `rollout`'s, hist_len >= 2;
    returns float32 (N, recursions, H, W, 3) in [-1, 1]."""
    inputs = np.asarray(inputs, np.float32)
    if inputs.shape[-1] < 6:
        raise ConfigError("the flow baseline needs 2 or more input frames (hist_len >= 2)")
    rows, columns = np.indices(inputs.shape[1:3], dtype=np.float32)
    outputs = np.empty((len(inputs), recursions, *inputs.shape[1:3], 3), np.float32)
    backward = metrics.optical_flow(inputs[..., -3:], inputs[..., -6:-3])
    for i, (last, back) in enumerate(zip(inputs[..., -3:], backward)):
        for r in range(recursions):
            outputs[i, r] = cv2.remap(
                last,
                columns + (r + 1) * back[..., 0],
                rows + (r + 1) * back[..., 1],
                cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE,
            )
    return outputs


BASELINES: dict[str, Predictor] = {"copy_last": copy_last, "flow": flow_extrapolation}


def student_t975(df: int) -> float:
    """The 0.975 quantile of Student's t with `df` degrees of freedom (NaN for df < 1)."""
    if df < 1:
        return math.nan
    if df <= len(T975):
        return T975[df - 1]
    z = 1.959963984540054  # Cornish-Fisher: within 2e-6 of the exact value for df >= 30
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


def mean_ci(values) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean and 95% confidence interval over the last axis of `values`, NaNs left out:
    mean +- t(0.975, n - 1) * s / sqrt(n), s the sample standard deviation. Returns mean, low,
    high and n (int), each of the leading shape; the mean is NaN where n = 0, the bounds where
    n < 2."""
    values = np.asarray(values, np.float64)
    present = ~np.isnan(values)
    n = present.sum(axis=-1)
    count = np.maximum(n, 1)
    mean = np.where(present, values, 0.0).sum(axis=-1) / count
    squares = np.where(present, values - mean[..., None], 0.0) ** 2
    sd = np.sqrt(squares.sum(axis=-1) / np.maximum(n - 1, 1))
    half = np.vectorize(student_t975, otypes=[float])(n - 1) * sd / np.sqrt(count)
    mean = np.where(n > 0, mean, np.nan)
    return mean, mean - half, mean + half, n


def motion_masks(sequences, hist_len: int, progress: bool = False) -> np.ndarray:
    """The moving areas at every horizon: uint8 sequences (N, hist_len + R, H, W, 3) -> bool
    (N, R, H, W), `metrics.motion_mask` between the last input frame and each truth frame."""
    last = pipeline.to_unit(sequences[:, hist_len - 1])
    truths = sequences[:, hist_len:]
    horizons = tqdm(range(truths.shape[1]), desc="moving areas", disable=not progress, leave=False)
    return np.stack(
        [metrics.motion_mask(last, pipeline.to_unit(truths[:, r])) for r in horizons], axis=1
    )


def score(
    predictions, truths, masks, progress: bool = False, palette=None, sprite_groups=None
) -> dict[tuple[str, str], np.ndarray]:
    """Every metric of every sequence at every horizon, on the whole frame and on the moving
    areas. predictions: float (N, R, H, W, 3) in [-1, 1]; truths: uint8 (N, R, H, W, 3); masks:
    bool (N, R, H, W). Returns {(metric, region): float (R, N)}, NaN where a mask is empty;
    with a `metrics.Palette`, also the sprites kept (`sprite_scores`).
    """
    functions = {
        "psnr": metrics.psnr,
        "ssim": metrics.ssim,
        "sharp_diff": metrics.sharp_diff,
        "crispness": metrics.crispness,
    }
    count, horizons = truths.shape[:2]
    values = {(m, region): np.empty((horizons, count)) for m in functions for region in REGIONS}
    for r in tqdm(range(horizons), desc="metrics", disable=not progress, leave=False):
        prediction, truth = predictions[:, r], pipeline.to_unit(truths[:, r])
        for name, function in functions.items():
            values[name, "whole"][r] = function(prediction, truth)
            values[name, "moving"][r] = function(prediction, truth, mask=masks[:, r])
    if palette is not None:
        values.update(sprite_scores(predictions, truths, palette, sprite_groups))
    return values


def sprite_scores(
    predictions, truths, palette, sprite_groups=None
) -> dict[tuple[str, str], np.ndarray]:
    """The sprites kept (`metrics.sprites_kept`) of every sequence at every horizon:
    {("sprite_mass", group), ("sprite_placed", group): float (R, N)} for each group of object
    colours of `sprite_groups` ({name: column indices into palette.objects}; default
    `colour_groups(palette)`), NaN where the truth draws none of the group's colours.
    predictions, truths as `score`'s."""
    sprite_groups = sprite_groups or colour_groups(palette)
    count, horizons = truths.shape[:2]
    values = {(m, g): np.empty((horizons, count)) for m in SPRITE_TITLES for g in sprite_groups}
    for r in range(horizons):
        counts = metrics.sprite_counts(predictions[:, r], pipeline.to_unit(truths[:, r]), palette)
        for group, columns in sprite_groups.items():
            mass, placed = metrics.sprites_kept(counts, columns)
            values["sprite_mass", group][r], values["sprite_placed", group][r] = mass, placed
    return values


def colour_groups(palette) -> dict[str, list[int] | None]:
    """The sprite groups `score` reports by default: "objects" (every object colour) and each
    object colour alone, named "#rrggbb"."""
    return {"objects": None} | {name: [k] for k, name in enumerate(palette.object_names)}


def find_palette(sequences, progress: bool = False):
    """The `metrics.Palette` of uint8 test sequences (N, T, H, W, 3), or None (with a note) when
    their frames are not small-palette and the sprite measure does not apply."""
    try:
        return metrics.find_palette(sequences)
    except DataError as error:
        if progress:
            tqdm.write(f"note: no sprite measure: {error}")
        return None


@dataclasses.dataclass
class Results:
    """The scores of named predictors on the same test sequences.

    values[predictor][metric, region]: float (R, N), a value per horizon and sequence (NaN where
    the moving area is empty); predictors[predictor]: what it is (checkpoint or baseline).
    """

    test_dir: str
    hist_len: int
    sequences: list[str]
    predictors: dict[str, dict]
    values: dict[str, dict[tuple[str, str], np.ndarray]]

    @property
    def recursions(self) -> int:
        first = next(iter(self.values.values()))
        return next(iter(first.values())).shape[0]

    def summaries(self):
        """(predictor, metric, region, (mean, ci_low, ci_high, n)), each of those (R,)."""
        for predictor, table in self.values.items():
            for (metric, region), values in table.items():
                yield predictor, metric, region, mean_ci(values)

    def rows(self) -> list[dict]:
        """The long format of metrics.csv: a dict of CSV_COLUMNS per horizon (from 1), metric,
        region and predictor; mean and bounds NaN where undefined."""
        rows = []
        for predictor, metric, region, stats in self.summaries():
            for r, (mean, low, high, n) in enumerate(zip(*stats), start=1):
                values = (predictor, r, metric, region, float(mean), float(low), float(high))
                rows.append(dict(zip(CSV_COLUMNS, (*values, int(n)))))
        return rows

    def to_json(self) -> dict:
        """The content of metrics.json (NaN as null)."""
        scores = {
            predictor: {metric: {} for metric, _ in table}
            for predictor, table in self.values.items()
        }
        for predictor, metric, region, (mean, low, high, n) in self.summaries():
            scores[predictor][metric][region] = {
                "mean": _nulls(mean),
                "ci_low": _nulls(low),
                "ci_high": _nulls(high),
                "n": n.tolist(),
                "values": _nulls(self.values[predictor][metric, region]),
            }
        return {
            "test_dir": self.test_dir,
            "hist_len": self.hist_len,
            "recursions": self.recursions,
            "sequences": self.sequences,
            "moving_areas": "metrics.motion_mask(last input frame, truth frame r) at horizon r",
            "interval": "95% Student t over sequences: mean +- t(0.975, n-1) s / sqrt(n)",
            "predictors": self.predictors,
            "metrics": scores,
        }

    def table(self, horizons=SUMMARY_HORIZONS) -> str:
        """The predictors side by side, a row per metric, region and horizon (those <= R):
        mean +- half the 95% interval."""
        from avgkit import viz

        cells = {
            (row["predictor"], row["metric"], row["region"], row["horizon"]): row
            for row in self.rows()
        }
        shown = [h for h in horizons if h <= self.recursions]
        lines = []
        for metric, title, region in self._shown():
            for h in shown:
                line = [title, region, h]
                line += [_cell(cells[p, metric, region, h]) for p in self.values]
                lines.append(line)
        return viz.text_table(["metric", "region", "horizon", *self.values], lines)

    def paired(self, first: str, second: str) -> dict:
        """Predictor `first` minus `second`, sequence by sequence (both scored on the same
        sequences): {(metric, region): (mean, ci_low, ci_high, n)}, each (R,), as `mean_ci`."""
        return {
            key: mean_ci(self.values[first][key] - self.values[second][key])
            for key in self.values[first]
        }

    def difference_table(self, first: str, second: str, horizons=SUMMARY_HORIZONS) -> str:
        """`paired(first, second)` at `horizons` (those <= R): a row per metric, region and
        horizon with the mean difference, its 95% interval and n."""
        from avgkit import viz

        differences = self.paired(first, second)
        lines = []
        for metric, title, region in self._shown():
            digits = _digits(metric)
            mean, low, high, n = differences[metric, region]
            for h in (h for h in horizons if h <= self.recursions):
                interval = f"[{low[h - 1]:+.{digits}f}, {high[h - 1]:+.{digits}f}]"
                lines.append([title, region, h, f"{mean[h - 1]:+.{digits}f}", interval, n[h - 1]])
        header = ["metric", "region", "horizon", f"{first} - {second}", "95% interval", "n"]
        return viz.text_table(header, lines)

    def _shown(self):
        """(metric, title, region) of the summary tables: the paper's metrics on the whole frame
        and the moving areas, and the sprites kept over all object colours where measured."""
        measured = next(iter(self.values.values()))
        for metric, title in METRIC_TITLES.items():
            for region in REGIONS:
                yield metric, title, region
        for metric, title in SPRITE_TITLES.items():
            if (metric, "objects") in measured:
                yield metric, title, "objects"


def _nulls(array) -> list:
    return np.where(np.isnan(array), None, np.asarray(array, object)).tolist()


def _digits(metric: str) -> int:
    return 2 if metric in ("psnr", "sharp_diff") else 3


def _cell(row: dict) -> str:
    digits = _digits(row["metric"])
    if np.isnan(row["mean"]):
        return "n/a"
    if np.isnan(row["ci_low"]):
        return f"{row['mean']:.{digits}f}"
    return f"{row['mean']:.{digits}f} ± {(row['ci_high'] - row['ci_low']) / 2:.{digits}f}"


def evaluate(
    out_dir: str | Path,
    test_dir: str | Path,
    load_paths: Sequence[str | Path] = (),
    *,
    recursions: int = 64,
    baselines: bool = False,
    config: Config | None = None,
    batch_size: int = 8,
    per_video: int = 1,
    labels: Sequence[str] | None = None,
    save_predictions: bool = False,
    progress: bool = True,
) -> Results:
    """`avgkit evaluate`: score checkpoints (and the baselines) on the test sequences of
    `test_dir`, `recursions` frames deep, and write the files listed in the module docstring
    under out_dir (runs/<name>).

    load_paths: checkpoints, checkpoints folders or run folders (see
    `avgkit.checkpoints.resolve_checkpoint`), each labelled by its run folder's name. config: the
    preset they must be of (default: each one's config.json). per_video: test sequences taken
    from each test video (`pipeline.test_sequences`). labels: names for the checkpoints, one per
    load path, instead of their run folders' names. save_predictions: also write
    results/predictions.npz (`write_predictions`). On small-palette frames (Atari games) the
    sprites kept are scored too (`metrics.find_palette` on the test sequences). An
    action-conditioned checkpoint is rolled out under the actions in the test videos'
    actions.csv (`pipeline.test_actions`): a test folder without them is refused before
    anything is predicted.
    """
    _check_count("-r/--recursions", recursions, "predicted frames")
    _check_count("--batch_size", batch_size, "sequences a batch")
    _check_count("--sequences_per_video", per_video, "sequences a video")
    if not load_paths and not baselines:
        raise ConfigError("nothing to evaluate: pass -l/--load_path checkpoints or --baselines")
    predictors = checkpoint_predictors(load_paths, config, batch_size, progress, labels)
    hist_len = _hist_len(predictors.values(), config)
    if baselines:
        clash = sorted(set(predictors) & set(BASELINES))
        if clash:
            raise ConfigError(f"-l/--load_path: runs named as a baseline {clash}; rename them")
        predictors.update(BASELINES)
    if save_predictions and {"truth", "sequence", "file"} & set(predictors):
        raise ConfigError("--save_predictions: a run named truth, sequence or file; rename it")
    sequences, names = pipeline.test_sequences(test_dir, hist_len, recursions, per_video)
    actions = {  # the predicted frames' actions, for each action set of a checkpoint
        action_set: pipeline.test_actions(test_dir, hist_len, recursions, action_set, per_video)
        for action_set in {_action_set(predict) for predict in predictors.values()} - {()}
    }
    inputs = pipeline.stack_frames(pipeline.to_unit(sequences[:, :hist_len]))
    truths = sequences[:, hist_len:]
    masks = motion_masks(sequences, hist_len, progress)
    palette = find_palette(sequences, progress)
    predictions, values = {}, {}
    for label, predict in tqdm(predictors.items(), desc="predictors", disable=not progress):
        action_set = _action_set(predict)
        given = {"actions": actions[action_set][:, hist_len:]} if action_set else {}
        predicted = predict(inputs, recursions, **given)
        values[label] = score(predicted, truths, masks, progress, palette)
        predictions[label] = to_uint8(predicted)  # for the GIFs
    described = {label: _describe(label, predict) for label, predict in predictors.items()}
    results = Results(str(test_dir), hist_len, _unique(names), described, values)
    write_results(Path(out_dir), results)
    write_gifs(Path(out_dir) / "images" / "evaluate", results.sequences, sequences, predictions)
    if save_predictions:
        write_predictions(Path(out_dir) / "results", truths, results.sequences, predictions)
    return results


def write_predictions(folder: Path, truths, sequences, predictions: dict[str, np.ndarray]) -> Path:
    """folder/predictions.npz, for scoring with one's own measures: `truth`, uint8
    (N, R, H, W, 3), the frames predicted; one array of that shape per predictor, named by its
    label; `sequence`, the test sequence of each row. Returns its path."""
    path = folder / "predictions.npz"
    with files.replacing(path) as tmp, tmp.open("wb") as file:
        np.savez_compressed(file, truth=truths, sequence=np.array(sequences), **predictions)
    return path


def load_generator(path: str | Path, config: Config | None = None):
    """G restored from a checkpoint, checkpoints folder or run folder (as
    `avgkit.checkpoints.resolve_checkpoint` finds it), built with the config.json beside it, else
    `config`; a checkpoint of another preset than `config` is refused. `pretrained:NAME` loads
    a model shipped in the package (`avgkit.pretrained`)."""
    return _checkpoint_predictor(path, config).generator()


@dataclasses.dataclass(frozen=True)
class CheckpointPredictor:
    """A predictor that restores the generator of `checkpoint` (a ckpt-<step> prefix, or
    `pretrained:NAME`) when called, and rolls it out."""

    checkpoint: str
    config: Config
    batch_size: int = 8
    progress: bool = False

    def generator(self):
        if self.checkpoint.startswith(pretrained.PREFIX):
            return pretrained.load(self.checkpoint)
        generator = models.build_generator(self.config)
        checkpoints.restore_generator(generator, self.checkpoint)
        return generator

    def __call__(self, inputs, recursions: int, actions=None) -> np.ndarray:
        """`rollout` of the generator; actions as `rollout`'s (action-conditioned G only)."""
        generator = self.generator()
        return rollout(generator, inputs, recursions, self.batch_size, self.progress, actions)


def checkpoint_predictors(
    load_paths,
    config: Config | None = None,
    batch_size: int = 8,
    progress: bool = False,
    labels: Sequence[str] | None = None,
) -> dict[str, CheckpointPredictor]:
    """{label: predictor} for checkpoints, checkpoints folders or run folders, each checked now
    against `config`'s preset and run with the config.json beside it (else `config`). Labels:
    `labels` if given, else the run folder's name, with the checkpoint's name added when two
    come from one run."""
    if labels is not None and len(labels) != len(load_paths):
        raise ConfigError(f"{len(labels)} labels for {len(load_paths)} checkpoints")
    found = {}
    for path in load_paths:
        predictor = _checkpoint_predictor(path, config, batch_size, progress)
        if predictor.checkpoint in found:
            raise ConfigError(
                f"-l/--load_path {path}: checkpoint {predictor.checkpoint} given twice"
            )
        found[predictor.checkpoint] = predictor
    if labels is None:
        runs = [_run_name(source) for source in found]
        labels = [
            f"{run}/{Path(source).name}" if runs.count(run) > 1 else run
            for run, source in zip(runs, found)
        ]
    return dict(zip(labels, found.values()))


def _checkpoint_predictor(path, config: Config | None, batch_size=8, progress=False):
    """The predictor of a checkpoint, checkpoints folder, run folder or `pretrained:NAME`,
    checked against `config`'s preset."""
    if str(path).startswith(pretrained.PREFIX):
        saved = pretrained.config(str(path))
        if config is not None and saved.name != config.name:
            raise ConfigError(
                f"-l/--load_path {path}: a model of preset {saved.name!r}, not {config.name!r}"
            )
        return CheckpointPredictor(str(path), saved, batch_size, progress)
    source = checkpoints.resolve_checkpoint(path, config)
    return CheckpointPredictor(
        source, checkpoints.checkpoint_config(source, config), batch_size, progress
    )


def _hist_len(checkpoints, config: Config | None) -> int:
    """The input frames all checkpoints see (without checkpoints: config's, else HIST_LEN)."""
    hist_lens = {predictor.config.hist_len for predictor in checkpoints}
    if len(hist_lens) > 1:
        raise ConfigError(f"-l/--load_path: the checkpoints see different hist_len {hist_lens}")
    return hist_lens.pop() if hist_lens else (config.hist_len if config else HIST_LEN)


def _action_set(predictor) -> tuple[str, ...]:
    """The action set of an action-conditioned checkpoint; () for other predictors."""
    return predictor.config.actions if isinstance(predictor, CheckpointPredictor) else ()


def _describe(label: str, predictor) -> dict:
    if isinstance(predictor, CheckpointPredictor):
        saved = predictor.config
        found = {"checkpoint": predictor.checkpoint, "preset": saved.name, "loss": saved.loss}
        return found | ({"actions": list(saved.actions)} if saved.actions else {})
    return {"baseline": label}


def _run_name(checkpoint: str) -> str:
    """runs/<name>/checkpoints/ckpt-N -> <name>; pretrained:NAME as it is; elsewhere the
    checkpoint's folder name."""
    if checkpoint.startswith(pretrained.PREFIX):
        return checkpoint
    folder = Path(checkpoint).parent
    return folder.parent.name if folder.name == "checkpoints" else folder.name


def _check_count(flag: str, value, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{flag} {value}: expected 1 or more {what}")


def _unique(names: list[str]) -> list[str]:
    """Sequence names, the video's name with _<k> added when a video gives several."""
    counts = {name: names.count(name) for name in names}
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(f"{name}_{seen[name]}" if counts[name] > 1 else name)
    return unique


def write_results(out_dir: Path, results: Results) -> None:
    """metrics.json, metrics.csv, summary.txt and metrics.png in out_dir/results."""
    import matplotlib.pyplot as plt

    from avgkit import viz

    folder = out_dir / "results"
    files.write_json(folder / "metrics.json", results.to_json())
    with files.replacing(folder / "metrics.csv") as tmp, tmp.open("w", newline="") as file:
        writer = csv.DictWriter(file, CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(results.rows())
    with files.replacing(folder / "summary.txt") as tmp:
        tmp.write_text(results.table() + "\n", encoding="utf-8")
    rows = results.rows()
    paper = [row for row in rows if row["region"] in REGIONS]
    sprites = [row for row in rows if row["region"] == "objects"]
    for name, shown, titles in (
        ("metrics", paper, METRIC_TITLES),
        ("sprites", sprites, SPRITE_TITLES),
    ):
        if shown:
            figure = viz.horizon_curves(shown, titles)
            with files.replacing(folder / f"{name}.png") as tmp:
                figure.savefig(tmp, format="png", dpi=100)
            plt.close(figure)


def write_gifs(folder: Path, names, sequences, predictions: dict[str, np.ndarray]) -> None:
    """<name>.gif per sequence: truth | each prediction, left to right, each led by the inputs.
    sequences: uint8 (N, hist_len + R, H, W, 3); predictions: {label: uint8 (N, R, H, W, 3)}."""
    from avgkit import viz

    hist_len = sequences.shape[1] - next(iter(predictions.values())).shape[1]
    for i, name in enumerate(names):
        inputs = sequences[i, :hist_len]
        panels = [sequences[i]] + [np.concatenate([inputs, p[i]]) for p in predictions.values()]
        frames = viz.side_by_side(panels, ["truth", *predictions], inputs=hist_len)
        with files.replacing(folder / f"{name}.gif") as tmp:
            iio.imwrite(tmp, frames, extension=".gif", duration=GIF_FRAME_MS, loop=0)
