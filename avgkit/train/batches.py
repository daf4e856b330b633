"""Training batches as a pure function of (seed, step), so a resumed run sees the same data.

Steps come in blocks of `block_steps`. Block b = step // block_steps draws, with a generator
seeded by (seed, b), up to `shards_per_block` shards of the clips folder and from them the
clips of its steps: step s gets a G batch and a D batch, a fresh one for each update as in the
paper, and with `config.d_extra_examples` two more D batches (the official code's
advExt = 'full'). A non-adversarial run leaves the D batches unused, so both modes of one config
train G on the same batches. Resuming at step s decodes only the shards of its block,
s // block_steps; the next block is decoded in a background thread while this one trains.
For an action-conditioned config (`config.actions`) the shards' actions are drawn with their
clips, row for row: `actions(step)` gives those of the batches of `batch(step)`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from avgkit.config import Config
from avgkit.data import clips as clips_lib
from avgkit.errors import DataError

BLOCK_STEPS = 250  # steps per block: 4000 clips (61 MB) at batch size 8
SHARDS_PER_BLOCK = 8  # shards a block draws from (of 4096 clips each, one video segment each)


class ShardBatches:
    """Batches from the shards of `avgkit process`, checked against `config`.

    `batch(step)` -> (g_batch, d_batch), each uint8 (batch_size, crop, crop, 3 * (hist_len + K)),
    K = `config.rollout_steps(step)` (the first frames of longer clips), with
    `config.d_extra_examples` -> (g_batch, d_batch, d_extra), d_extra uint8
    (2, batch_size, crop, crop, 3 * (hist_len + 1)). With `config.actions`, `actions(step)` ->
    the action of every frame of each of these batches, in the same order: uint8
    (batch_size, hist_len + K) and (2, batch_size, hist_len + 1) (`Trainer.train_step`).
    """

    def __init__(
        self,
        clips_dir: str | Path,
        config: Config,
        seed: int = 0,
        block_steps: int = BLOCK_STEPS,
        shards_per_block: int = SHARDS_PER_BLOCK,
    ):
        self.clips_dir = Path(clips_dir)
        self.manifest = read_clips_manifest(self.clips_dir, config)
        self.config, self.batch_size, self.seed = config, config.batch_size, seed
        self.extra = config.d_extra_examples
        self.per_step = 4 if self.extra else 2  # batches a step: G, D (and D's two extra)
        self.block_steps, self.shards_per_block = block_steps, shards_per_block
        self.with_actions = bool(config.actions)
        self._block, self._clips, self._actions, self._next = None, None, None, None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="avgkit-batches")

    def batch(self, step: int) -> tuple[np.ndarray, ...]:
        """The G and D batches (and D's extra ones) of training step `step` (0-based)."""
        self._load(step // self.block_steps)
        return self._step_rows(self._clips, step, per_frame=3)

    def actions(self, step: int) -> tuple[np.ndarray, ...] | None:
        """The actions of the batches of `batch(step)`, in the same order; None without
        `config.actions`."""
        if not self.with_actions:
            return None
        self._load(step // self.block_steps)
        return self._step_rows(self._actions, step, per_frame=1)

    def fixed(self, count: int) -> np.ndarray:
        """The `count` clips of the first shard that move most, in shard order: a batch that
        stays the same all run and shows sprites rather than still maze, uint8 (count, crop,
        crop, 3 * (hist_len + 1))."""
        clips = clips_lib.read_shard(self.clips_dir, self.manifest, 0)
        return clips[self._fixed_rows(count), ..., : 3 * (self.config.hist_len + 1)]

    def fixed_actions(self, count: int) -> np.ndarray | None:
        """The actions of the frames of `fixed(count)`, uint8 (count, hist_len + 1); None
        without `config.actions`."""
        if not self.with_actions:
            return None
        _, actions = clips_lib.read_shard(self.clips_dir, self.manifest, 0, actions=True)
        return actions[self._fixed_rows(count), : self.config.hist_len + 1]

    def _fixed_rows(self, count: int) -> np.ndarray:
        return clips_lib.most_moving(self.clips_dir, self.manifest, 0, count)

    def block_clips(self, block: int) -> np.ndarray:
        """All clips of a block in order: uint8 (per_step * block_steps * batch_size, crop, crop,
        c) (`block_rows`)."""
        return self.block_rows(block)[0]

    def block_rows(self, block: int) -> tuple[np.ndarray, np.ndarray | None]:
        """All clips of a block in order, uint8 (per_step * block_steps * batch_size, crop, crop,
        c), and with `config.actions` their frames' actions, uint8 (same rows, c / 3) (else
        None). Each shard read is checked against the manifest (`clips.read_shard`), here, in
        the thread that prepares the next block: a damaged one is a DataError naming it, raised
        in the training thread by `batch` when it needs this block."""
        rng = np.random.default_rng([self.seed, block])
        shards = self.manifest["shards"]
        picked = np.sort(rng.choice(len(shards), min(self.shards_per_block, len(shards)), False))
        sizes = np.array([shards[i]["clips"] for i in picked])
        need, pool = self.per_step * self.block_steps * self.batch_size, int(sizes.sum())
        if need <= pool:
            order = rng.choice(pool, need, replace=False)
        else:  # a small clips folder: every clip once per pass, in a new order each pass
            passes = -(-need // pool)
            order = np.concatenate([rng.permutation(pool) for _ in range(passes)])[:need]
        out = None
        starts = np.concatenate([[0], np.cumsum(sizes)])
        for index, start, end in zip(picked, starts[:-1], starts[1:]):  # one shard in memory
            mine = (order >= start) & (order < end)
            if not mine.any():
                continue
            shard = clips_lib.read_shard(self.clips_dir, self.manifest, index, self.with_actions)
            arrays = shard if self.with_actions else (shard,)
            if out is None:
                out = [np.empty((need, *array.shape[1:]), np.uint8) for array in arrays]
            for rows, array in zip(out, arrays):
                rows[mine] = array[order[mine] - start]
        return out[0], (out[1] if self.with_actions else None)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _load(self, block: int) -> None:
        """Hold the clips (and actions) of `block`, and start decoding the next one."""
        if block == self._block:
            return
        if self._next is not None and self._next[0] == block:
            self._clips, self._actions = self._next[1].result()
        else:
            self._clips, self._actions = self.block_rows(block)
        self._block = block
        self._next = (block + 1, self._pool.submit(self.block_rows, block + 1))

    def _step_rows(self, rows: np.ndarray, step: int, per_frame: int) -> tuple[np.ndarray, ...]:
        """The G and D batches (and D's extra ones) of `step` from the rows of its block: clips
        (per_frame 3: channels a frame) or actions (per_frame 1), cut to the frames K needs."""
        first = self.per_step * (step % self.block_steps) * self.batch_size
        g_batch, d_batch, *extra = np.split(
            rows[first : first + self.per_step * self.batch_size], self.per_step
        )
        frames = per_frame * (self.config.hist_len + self.config.rollout_steps(step))
        g_batch, d_batch = g_batch[..., :frames], d_batch[..., :frames]
        if not self.extra:
            return g_batch, d_batch
        return g_batch, d_batch, np.stack(extra)[..., : per_frame * (self.config.hist_len + 1)]


def read_clips_manifest(clips_dir: Path, config: Config) -> dict:
    """The manifest of a finished clips folder whose clips fit `config`; DataError otherwise."""
    if not clips_dir.is_dir():
        raise DataError(
            f"-c/--clips_dir {clips_dir}: folder not found; make clips with `avgkit process`"
        )
    manifest = clips_lib.read_manifest(clips_dir)
    for field in ("crop_size", "hist_len"):
        if manifest[field] != getattr(config, field):
            raise DataError(
                f"{clips_dir}: clips have {field} {manifest[field]}; preset {config.name!r} "
                f"expects {getattr(config, field)}; cut clips for it with `avgkit process`"
            )
    if config.actions and clips_lib.action_set(clips_dir, manifest) != config.actions:
        raise DataError(
            f"{clips_dir}: clips have the action set {manifest['actions']}; the model's config "
            f"has {list(config.actions)}; cut clips from a recording of the same game"
        )
    length = manifest.get("clip_length", manifest["hist_len"] + 1)  # older manifests: 5
    if length < config.clip_frames:
        rollout, frames = config.clip_frames - config.hist_len, config.clip_frames
        longer = Path(f"{clips_dir}-{frames}")
        command = clips_lib.remake_command(longer, {**manifest, "clip_length": frames})
        raise DataError(
            f"{clips_dir}: clips of {length} frames; a rollout of {rollout} frames "
            f"(--rollout_steps, --curriculum) after {config.hist_len} input frames needs "
            f"{frames}: cut them into another folder with `{command}`"
        )
    return manifest
