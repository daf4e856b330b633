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
    try:
        with np.load(path) as saved:
            arrays = [saved[f"w{i:03d}"] for i in range(len(saved.files))]
    except files.NPZ_ERRORS as error:
        raise DataError(f"{path}: not readable G weights ({error})") from None
    if [a.shape for a in arrays] != [tuple(w.shape) for w in generator.weights]:
        raise ConfigError(f"{path}: weights of another network than preset {generator.config.name}")
    generator.set_weights([a.astype(np.float32) for a in arrays])
