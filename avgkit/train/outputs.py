"""What a run writes besides checkpoints and summaries: images, test rollouts, the stats log.

runs/<name>/images/train/step_<step>.png   the fixed batch: per row last input | prediction | truth
runs/<name>/images/test/step_<step>/<video>/input_<i>.png, pred_<r>.png, truth_<r>.png
runs/<name>/images/test/step_<step>/<video>.gif   truth | prediction, inputs first
runs/<name>/results/test_step_<step>.json       per recursion: mean PSNR and sharpness difference
runs/<name>/results/train_log.csv                one row per --stats_freq steps
"""

from __future__ import annotations

import csv
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from avgkit import files
from avgkit.data.frames import to_uint8
from avgkit.evaluate import GIF_FRAME_MS

LOG_COLUMNS = ("step", "g_loss", "d_loss", "psnr", "sharp_diff", "steps_per_second")
# D's diagnostics per scale k (avgkit.train.Trainer.diagnostics), empty without D
DIAGNOSTIC_COLUMNS = ("d_real", "d_fake", "adv_share", "d_heldout")


def log_columns(scales: int) -> tuple[str, ...]:
    """The stats log's columns: LOG_COLUMNS, then <diagnostic>_<k> for every scale k."""
    return LOG_COLUMNS + tuple(f"{n}_{k}" for n in DIAGNOSTIC_COLUMNS for k in range(scales))


def fixed_batch_grid(history, predictions, targets) -> np.ndarray:
    """uint8 (n * H, 3 * W, 3): a row per clip, its last input | prediction | truth.

    history (n, H, W, 3 * hist_len), predictions and targets (n, H, W, 3), all in [-1, 1].
    """
    rows = np.concatenate([history[..., -3:], predictions, targets], axis=2)
    return to_uint8(np.concatenate(list(rows), axis=0))


def write_image(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, image)


def write_test(folder: Path, names, sequences, predictions, hist_len: int) -> None:
    """PNG sequences and a GIF per test sequence.

    sequences: uint8 (N, hist_len + R, H, W, 3), the inputs then the truth; predictions: float
    (N, R, H, W, 3) in [-1, 1].
    """
    predictions = to_uint8(predictions)
    for name, frames, predicted in zip(names, sequences, predictions, strict=True):
        out = folder / name
        out.mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(frames[:hist_len]):
            iio.imwrite(out / f"input_{i}.png", frame)
        for r, (truth, frame) in enumerate(zip(frames[hist_len:], predicted), start=1):
            iio.imwrite(out / f"pred_{r}.png", frame)
            iio.imwrite(out / f"truth_{r}.png", truth)
        shown = np.concatenate([frames[:hist_len], predicted])
        gif = np.concatenate([frames, shown], axis=2)  # truth left, prediction right
        iio.imwrite(folder / f"{name}.gif", gif, duration=GIF_FRAME_MS, loop=0)


def append_log(path: Path, row: dict, columns=LOG_COLUMNS) -> None:
    """Add a row to the stats log: `columns` and a header if the file is new, else the columns
    of its header (a log begun by an older avgkit keeps its shape); missing values empty."""
    new = not path.exists()
    if not new:
        with path.open(newline="") as file:
            columns = next(csv.reader(file))
    with path.open("a", newline="") as file:
        writer = csv.DictWriter(file, columns, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)


def truncate_log(path: Path, step: int) -> None:
    """Drop the rows after `step`: a run resumed from a checkpoint repeats those steps."""
    if not path.exists():
        return
    header, *rows = path.read_text().splitlines(keepends=True)
    kept = [row for row in rows if int(row.split(",", 1)[0]) <= step]  # "step" comes first
    if not kept:
        path.unlink()
        return
    with files.replacing(path) as tmp:
        tmp.write_text(header + "".join(kept))


def read_log(path: Path) -> list[dict]:
    """The stats log as a list of rows, numbers as int (step) and float (the rest)."""
    with Path(path).open(newline="") as file:
        return [
            {
                key: int(value) if key == "step" else float(value or "nan")
                for key, value in row.items()
            }
            for row in csv.DictReader(file)
        ]
