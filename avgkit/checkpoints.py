"""Checkpoints on disk: finding one (`-l/--load_path`), the config beside it, its step, whether
its files are damaged, and restoring a generator from it. Training and evaluation both use this
room; it imports neither.

A run folder holds checkpoints/ckpt-<step>.{index,data-*} (tf.train.CheckpointManager) and
config.json; a checkpoint holds the step, both models and both optimizers.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from avgkit import config as config_lib
from avgkit.config import Config
from avgkit.errors import AvgkitError, ConfigError


def resolve_checkpoint(path: str | Path, config: Config | None = None) -> str:
    """The checkpoint prefix at `path`: a ckpt-<step> prefix itself, or the latest checkpoint
    of a checkpoints folder or of a run folder. Refuses one of another preset than `config`,
    and one whose files are damaged."""
    path = Path(path)
    found = None
    if path.is_dir():
        found = tf.train.latest_checkpoint(str(path)) or tf.train.latest_checkpoint(
            str(path / "checkpoints")
        )
    elif Path(f"{path}.index").exists():
        found = str(path)
    if found is None:
        raise ConfigError(
            f"-l/--load_path {path}: no checkpoint there; expected a checkpoint such as "
            "runs/<name>/checkpoints/ckpt-1000, a checkpoints folder or a run folder"
        )
    saved = config_beside(found)
    if config is not None and saved is not None and saved.name != config.name:
        raise ConfigError(
            f"{found}: a checkpoint of preset {saved.name!r}; this run is preset {config.name!r} "
            f"(pass --preset {saved.name} to use it)"
        )
    check_readable(found)
    return found


def config_beside(checkpoint: str) -> Config | None:
    """The config.json of the run a checkpoint belongs to (runs/<name>/checkpoints/ckpt-N)."""
    for folder in Path(checkpoint).parents[:2]:
        if (folder / "config.json").exists():
            return config_lib.load(folder / "config.json")
    return None


def checkpoint_config(checkpoint: str, config: Config | None = None) -> Config:
    """The config a checkpoint was trained with (the config.json of its run), else `config`."""
    saved = config_beside(checkpoint) or config
    if saved is None:
        raise ConfigError(f"{checkpoint}: no config.json beside it; pass --preset")
    return saved


def saved_step(run_dir: str | Path) -> int:
    """The step of the latest checkpoint of `run_dir` (its number, ckpt-<step>); 0 if none."""
    latest = tf.train.latest_checkpoint(str(Path(run_dir) / "checkpoints"))
    return int(latest.rsplit("-", 1)[1]) if latest else 0


def latest_readable(folder: Path, say=None) -> str | None:
    """The newest checkpoint of `folder` whose files can be read whole; each newer one that
    cannot is skipped, and `say` (print-like) tells which and why. None if there is none."""
    say = say or _quiet
    state = tf.train.get_checkpoint_state(str(folder))
    for checkpoint in reversed(list(state.all_model_checkpoint_paths) if state else []):
        reason = damage(checkpoint)
        if reason is None:
            return checkpoint
        say(f"skipping {checkpoint}: damaged ({reason}); trying the one before")
    return None


def damage(checkpoint: str) -> str | None:
    """Why the files of `checkpoint` cannot be read (a cut data file, an overwritten index), or
    None if every tensor in them reads."""
    try:
        reader = tf.train.load_checkpoint(checkpoint)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as error:  # the reader raises several kinds: DataLossError, IndexError, ...
        return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return None


def check_readable(checkpoint: str) -> None:
    reason = damage(checkpoint)
    if reason is not None:
        raise AvgkitError(f"{checkpoint}: damaged checkpoint, its files cannot be read ({reason})")


def restore_generator(generator, checkpoint: str) -> None:
    """Load only the generator's weights from `checkpoint` (a training checkpoint, which also
    holds D and the optimizers); AvgkitError if its files are damaged or G does not fit."""
    check_readable(checkpoint)
    try:
        status = tf.train.Checkpoint(generator=generator).restore(checkpoint).expect_partial()
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as error:
        reason = str(error).strip().splitlines()[0]
        raise AvgkitError(
            f"{checkpoint}: does not fit preset {generator.config.name!r} ({reason})"
        ) from None


def _quiet(*args, **kwargs) -> None:
    pass
