"""Training: the adversarial and non-adversarial trainer, its loop, checkpoints and summaries.

`train.train(config, clips_dir, run_dir, steps)` trains (and resumes) a run; `train.test` is
`avgkit train -T`; `train.Trainer` holds the models, optimizers and the compiled step. Finding
and reading checkpoints lives in `avgkit.checkpoints` (re-exported here).
"""

from avgkit.checkpoints import checkpoint_config, config_beside, resolve_checkpoint, saved_step
from avgkit.train.batches import ShardBatches
from avgkit.train.loop import (
    Frequencies,
    History,
    TrainingDiverged,
    heldout_examples,
    prepare_run,
    restore,
    run_rollout_test,
    test,
    train,
)
from avgkit.train.outputs import read_log
from avgkit.train.trainer import Trainer

__all__ = [
    "Frequencies",
    "History",
    "ShardBatches",
    "Trainer",
    "TrainingDiverged",
    "checkpoint_config",
    "config_beside",
    "heldout_examples",
    "prepare_run",
    "read_log",
    "resolve_checkpoint",
    "restore",
    "run_rollout_test",
    "saved_step",
    "test",
    "train",
]
