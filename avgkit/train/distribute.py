"""Which `tf.distribute` strategy trains, chosen from `TF_CONFIG` and the devices TensorFlow sees.

- `TF_CONFIG` naming several tasks: `MultiWorkerMirroredStrategy` (one process per machine, each
  started with its own `TF_CONFIG`; task 0 of the workers, or the chief, writes the run folder).
  Every worker makes the whole global batch of a step (batches are a function of seed and step)
  and trains on its replicas' rows of it, so n workers reproduce one process; `check_agree`
  stops them all at the start if they would not train the same steps on the same data.
- Several GPUs: `MirroredStrategy` over all of them; one GPU: that GPU.
- No GPU: the CPU (or `MirroredStrategy` over several logical CPUs, if a program configured them).
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from avgkit.errors import ConfigError


def choose_strategy() -> tf.distribute.Strategy:
    """The strategy for the machine(s) at hand (see the module docstring)."""
    if len(_cluster_tasks()) > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    for kind in ("GPU", "CPU"):
        devices = [device.name for device in tf.config.list_logical_devices(kind)]
        if len(devices) > 1:
            return tf.distribute.MirroredStrategy(devices)
        if devices:
            return tf.distribute.OneDeviceStrategy(devices[0])
    raise RuntimeError("TensorFlow sees no device")


def describe(strategy: tf.distribute.Strategy) -> str:
    """One line such as 'MirroredStrategy, 2 replicas: GPU:0, GPU:1' or, on each of two
    machines, 'MultiWorkerMirroredStrategy, 2 replicas, this worker's: CPU:0'."""
    devices = [name.split("device:")[-1] for name in _devices(strategy)]
    replicas = strategy.num_replicas_in_sync
    where = f"{replicas} replicas: " if replicas > 1 else ""
    name = type(strategy).__name__
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):  # its class's own name
        name, where = "MultiWorkerMirroredStrategy", f"{replicas} replicas, this worker's: "
    return f"{name}, {where}{', '.join(devices)}"


def uses_gpu(strategy: tf.distribute.Strategy) -> bool:
    return any("GPU" in name.upper() for name in _devices(strategy))


def is_chief() -> bool:
    """Whether this process writes checkpoints and summaries: always, unless `TF_CONFIG` makes it
    a worker other than the chief (or than worker 0 when there is no chief)."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task", {})
    if len(_cluster_tasks()) <= 1 or task.get("type") == "chief":
        return True
    return (
        task.get("type") == "worker"
        and task.get("index", 0) == 0
        and "chief" not in (config.get("cluster", {}))
    )


def check_agree(strategy: tf.distribute.Strategy, values: dict[str, int], hints: dict[str, str]):
    """Raise ConfigError on every worker of a `MultiWorkerMirroredStrategy` if the workers hold
    different `values` (integers such as the step they resume at), naming the first that differs,
    its value on each worker and `hints[name]`. A collective: every worker must call it."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    local = tf.constant([list(values.values())], tf.int64)
    per_replica = strategy.experimental_distribute_values_from_function(lambda _: local)
    rows = strategy.gather(per_replica, axis=0).numpy()  # one row per replica, in worker order
    per_worker = rows[:: max(1, len(rows) // max(1, len(_cluster_tasks())))]
    for name, column in zip(values, per_worker.T):
        if len(set(column.tolist())) > 1:
            found = ", ".join(str(value) for value in column)
            raise ConfigError(f"the workers differ in {name}: {found} ({hints[name]})")


def _cluster_tasks() -> list[str]:
    cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
    return [address for kind in ("chief", "worker") for address in cluster.get(kind, [])]


def _devices(strategy: tf.distribute.Strategy) -> list[str]:
    try:
        return list(strategy.extended.worker_devices)
    except RuntimeError:  # the default strategy: TensorFlow's default device
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return [devices[0].name]
