"""Two TensorFlow processes at once on a 2-core machine, as `make test`'s two pytest workers:
seconds until both have run the same work, with TensorFlow's default thread pools and with
TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS set. The work: 40 D+G steps of the `small`
preset and 10 of `official` on random uint8 clips, then 8 full 210x160 frames through small's G.

    python docs/bench/levers/threads.py            # from the repository root, nothing else running
"""

import os
import subprocess
import sys
import time

WORK = """
import numpy as np, tensorflow as tf
from avgkit import config
from avgkit.train import Trainer
rng = np.random.default_rng(0)
for name, steps in (("small", 40), ("official", 10)):
    c = config.preset(name)
    t = Trainer(c)
    shape = (c.batch_size, c.crop_size, c.crop_size, 3 * (c.hist_len + 1))
    g, d = (rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(2))
    extra = rng.integers(0, 256, (2, *shape), dtype=np.uint8) if c.d_extra_examples else None
    for _ in range(steps):
        t.train_step(g, d, extra)
    if name == "small":
        frames = tf.constant(rng.uniform(-1, 1, (8, 210, 160, 3 * c.hist_len)), tf.float32)
        for _ in range(3):
            t.generator(frames)
"""

SETTINGS = {
    "TensorFlow's default": {},
    "intra-op 1": {"TF_NUM_INTRAOP_THREADS": "1"},
    "intra-op 1, inter-op 1": {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"},
}


def both(extra_env: dict, processes: int = 2) -> float:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **extra_env}
    started = time.perf_counter()
    running = [subprocess.Popen([sys.executable, "-c", WORK], env=env) for _ in range(processes)]
    if any([p.wait() for p in running]):  # wait for every worker, then look
        raise SystemExit("a worker failed")
    return time.perf_counter() - started


if __name__ == "__main__":
    for round_ in range(2):
        for label, extra_env in SETTINGS.items():
            print(f"round {round_}: {label}: {both(extra_env):.1f} s", flush=True)
