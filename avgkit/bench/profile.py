"""Where a training step's time goes: TensorFlow's profiler over a few steps, op time by op type.

The profiler (`tf.profiler.experimental`) writes an XSpace protobuf; every kernel TensorFlow ran
is an event on one of its compute threads, named "scope/op:OpType". Summing those durations by
OpType gives op seconds a step. With two inter-op threads running kernels side by side, the op
seconds of a step may exceed its wall seconds; the shares are what to read. oneDNN kernels are
named `_MklNative...`; convolutions are the op types with "Conv2D" in their name.
"""

from __future__ import annotations

import collections
import tempfile
import time
from pathlib import Path

import tensorflow as tf
from tensorflow.tsl.profiler.protobuf import xplane_pb2

KERNEL_THREADS = ("tf_Compute", "tf_numa")  # the profiler's names of TensorFlow's op threads
TOP = 12  # op types listed by name; the rest are summed as "other"


def profile_step(step, batch: tuple, steps: int = 5) -> dict:
    """Run step(*batch) `steps` times under the profiler (warm it up first: tracing is not
    profiled apart). Returns per step: "wall_seconds" (profiler on), "op_seconds" (kernels'
    time summed), "kernels" (kernels run), "conv_share" (of op seconds) and "by_op" (op type:
    seconds, the `TOP` largest, then "other")."""
    with tempfile.TemporaryDirectory() as folder:
        tf.profiler.experimental.start(folder)
        started = time.perf_counter()
        for _ in range(steps):
            step(*batch)
        wall = (time.perf_counter() - started) / steps
        tf.profiler.experimental.stop()
        (path,) = Path(folder).glob("**/*.xplane.pb")
        seconds, kernels = kernel_seconds(path.read_bytes())
    total = sum(seconds.values())
    ranked = seconds.most_common()
    by_op = {op: value / steps for op, value in ranked[:TOP]}
    by_op["other"] = sum(value for _, value in ranked[TOP:]) / steps
    convolutions = sum(value for op, value in seconds.items() if "Conv2D" in op)
    return {
        "steps": steps,
        "wall_seconds": wall,
        "op_seconds": total / steps,
        "kernels": kernels / steps,
        "conv_share": convolutions / total,
        "by_op": by_op,
    }


def kernel_seconds(xspace: bytes) -> tuple[collections.Counter, int]:
    """Seconds by op type over the kernels of a serialized XSpace, and the number of kernels."""
    space = xplane_pb2.XSpace()
    space.ParseFromString(xspace)
    seconds, kernels = collections.Counter(), 0
    for plane in space.planes:
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            if not line.name.startswith(KERNEL_THREADS):
                continue
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if ":" in name and "::" not in name:  # "scope/op:OpType"; not "Executor::Run"
                    seconds[name.rsplit(":", 1)[1]] += event.duration_ps * 1e-12
                    kernels += 1
    return seconds, kernels
