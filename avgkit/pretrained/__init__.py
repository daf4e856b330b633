"""Trained generators shipped inside the package: `pretrained:NAME` wherever a model is loaded.

Each `avgkit/pretrained/<name>/` holds G's weights (`weights.npz`, float16), the `config.json`
it was trained with and `provenance.json` (command, steps, seed, recording, CPU, date, scores).
`make pretrained` rebuilds them from the study's results (`avgkit.study`, docs/study/).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from avgkit import config as config_lib
from avgkit import files
from avgkit.errors import ConfigError, DataError

PREFIX = "pretrained:"
GATE = "_gate"  # in the name of every gate weight of G (avgkit.models.generator: g<k>_gate<i>)
FOLDER = Path(__file__).parent


def names() -> list[str]:
    """The shipped models' names."""
    return sorted(p.parent.name for p in FOLDER.glob("*/weights.npz"))


def folder(name: str) -> Path:
    """The folder of shipped model `name` (`pretrained:` in front or not); ConfigError listing
    the names there are when it does not exist."""
    name = name.removeprefix(PREFIX)
    path = FOLDER / name
    if not (path / "weights.npz").exists():
        raise ConfigError(
            f"-l/--load_path {PREFIX}{name}: no such shipped model; expected one of "
            + ", ".join(f"{PREFIX}{n}" for n in names())
        )
    return path


def config(name: str) -> config_lib.Config:
    return config_lib.load(folder(name) / "config.json")


def provenance(name: str) -> dict:
    return json.loads((folder(name) / "provenance.json").read_text())


def load(name: str):
    """The generator of shipped model `name`, built and with its weights."""
    from avgkit import models

    generator = models.build_generator(config(name))
    load_weights(generator, folder(name) / "weights.npz")
    return generator


def save_weights(generator, path: Path) -> None:
    """G's weights as float16 arrays in one .npz, in `generator.weights` order."""
    arrays = {f"w{i:03d}": w.numpy().astype(np.float16) for i, w in enumerate(generator.weights)}
    with files.replacing(path) as tmp, tmp.open("wb") as file:
        np.savez_compressed(file, **arrays)


def load_weights(generator, path: Path) -> None:
    """Set G's weights from a `save_weights` file (float16 -> float32); DataError naming the file
    if it does not read (cut short, bytes changed)."""
    arrays = _read_weights(path)
    if [a.shape for a in arrays] != [tuple(w.shape) for w in generator.weights]:
        raise ConfigError(f"{path}: weights of another network than preset {generator.config.name}")
    generator.set_weights([a.astype(np.float32) for a in arrays])


def start_from(generator, source: str | Path) -> None:
    """Set a new G's weights from `source` (a `save_weights` file, or `pretrained:NAME`) to
    fine-tune it. An action-conditioned G may start from a G without actions: the weights that
    read its action planes (the last input channels of each scale's first layer) or its gates
    (see `avgkit.models.generator`) start at zero, so it first predicts exactly as that G did."""
    path = weights_path(source)
    arrays = _read_weights(path)
    weights = generator.weights
    gates = [GATE in w.path for w in weights]
    if len(arrays) == gates.count(False) < len(weights):  # a G without gates: zeros for them
        rest = iter(arrays)
        arrays = [np.zeros(w.shape) if gate else next(rest) for w, gate in zip(weights, gates)]
    wanted = [tuple(w.shape) for w in weights]
    n_actions = len(generator.config.actions)
    widened = [_with_action_inputs(a, shape, n_actions) for a, shape in zip(arrays, wanted)]
    if len(arrays) != len(wanted) or any(a is None for a in widened):
        raise ConfigError(
            f"--init_weights {path}: weights of another network than this run's "
            f"(preset {generator.config.name}, {n_actions} actions)"
        )
    generator.set_weights(widened)


def weights_path(source: str | Path) -> Path:
    """The .npz of `source` (a file, or `pretrained:NAME`); ConfigError if there is none."""
    source = str(source)
    path = folder(source) / "weights.npz" if source.startswith(PREFIX) else Path(source)
    if not path.is_file():
        raise ConfigError(f"--init_weights {path}: no such file; expected G weights (.npz)")
    return path


def _with_action_inputs(array: np.ndarray, shape: tuple, n_actions: int) -> np.ndarray | None:
    """`array` as float32 of `shape`: itself, or a kernel (k, k, c, maps) widened with zero
    weights for `n_actions` more input channels; None if it is neither."""
    if array.shape == shape:
        return array.astype(np.float32)
    if (
        n_actions
        and array.ndim == 4
        and shape == (*array.shape[:2], array.shape[2] + n_actions, array.shape[3])
    ):
        zeros = np.zeros((*array.shape[:2], n_actions, array.shape[3]), np.float32)
        return np.concatenate([array.astype(np.float32), zeros], axis=2)
    return None


def _read_weights(path: Path) -> list[np.ndarray]:
    """The arrays of a `save_weights` file; DataError naming it if it does not read."""
    try:
        with np.load(path) as saved:
            return [saved[f"w{i:03d}"] for i in range(len(saved.files))]
    except files.NPZ_ERRORS as error:
        raise DataError(f"{path}: not readable G weights ({error})") from None
