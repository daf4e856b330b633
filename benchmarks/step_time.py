"""Time one adversarial training step per preset: one D update, then one G update (Adam).

Batch `config.batch_size` (8) of random crop_size x crop_size clips, a fresh batch for each
update as in training, under tf.function. After warm-up steps, `--rounds` rounds of `--steps`
steps each; the median and the minimum (the least disturbed by other processes) are kept.
Writes runs/bench/step_time.json.

TensorFlow leaves its oneDNN kernels off on CPUs without AVX-512 VNNI / BF16 (such as the AMD
EPYC this was sized on); there `TF_ENABLE_ONEDNN_OPTS=1` makes the small convolutions of the
small and tiny presets 2-3 times faster. The JSON records the setting.

    TF_ENABLE_ONEDNN_OPTS=1 .venv/bin/python benchmarks/step_time.py [--presets tiny small]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import keras
import tensorflow as tf

from avgkit import config as avg_config
from avgkit import losses, models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "small"])
    parser.add_argument("--steps", type=int, default=10, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--out", default="runs/bench/step_time.json")
    args = parser.parse_args()

    results = {name: time_preset(avg_config.preset(name), args) for name in args.presets}
    report = {
        "what": "seconds per adversarial training step: one D update + one G update, Adam",
        "machine": {"cpus": os.cpu_count(), "processor": cpu_name()},
        "tensorflow": tf.__version__,
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset"),
        "steps_per_round": args.steps,
        "rounds": args.rounds,
        "presets": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(out)
    print(json.dumps(results, indent=2))


def time_preset(config: avg_config.Config, args) -> dict:
    """Seconds per D+G step (median and minimum over rounds), with the models' sizes."""
    keras.utils.set_random_seed(0)
    generator, discriminator = models.build_generator(config), models.build_discriminator(config)
    train_step = make_train_step(config, generator, discriminator)
    batches = [random_batch(config) for _ in range(4)]
    for i in range(args.warmup):
        train_step(*batches[i % 2], *batches[2 + i % 2])
    rounds = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        for i in range(args.steps):
            d_loss, g_loss = train_step(*batches[i % 2], *batches[2 + i % 2])
        float(g_loss)  # wait for the last step
        rounds.append((time.perf_counter() - start) / args.steps)
    return {
        "median_seconds_per_step": round(statistics.median(rounds), 4),
        "min_seconds_per_step": round(min(rounds), 4),
        "rounds": [round(r, 4) for r in rounds],
        "generator_params": generator.count_params(),
        "discriminator_params": discriminator.count_params(),
        "batch_size": config.batch_size,
        "crop_size": config.crop_size,
    }


def make_train_step(config, generator, discriminator):
    g_optimizer, d_optimizer = keras.optimizers.Adam(4e-5), keras.optimizers.Adam(4e-5)

    @tf.function
    def train_step(d_history, d_target, g_history, g_target):
        # D update on one batch (the generator's output is a constant here)
        fake = generator(d_history)
        with tf.GradientTape() as tape:
            real_logits = discriminator(d_history, models.pyramid(d_target, config))
            fake_logits = discriminator(d_history, fake)
            d_loss, _ = losses.combined_discriminator_loss(real_logits, fake_logits)
        variables = discriminator.trainable_variables
        d_optimizer.apply(tape.gradient(d_loss, variables), variables)
        # G update on a fresh batch, through D
        with tf.GradientTape() as tape:
            predictions = generator(g_history)
            fake_logits = discriminator(g_history, predictions)
            targets = models.pyramid(g_target, config)
            g_loss, _ = losses.combined_generator_loss(predictions, targets, fake_logits, config)
        variables = generator.trainable_variables
        g_optimizer.apply(tape.gradient(g_loss, variables), variables)
        return d_loss, g_loss

    return train_step


def random_batch(config):
    shape = (config.batch_size, config.crop_size, config.crop_size)
    history = tf.random.uniform((*shape, 3 * config.hist_len), -1.0, 1.0)
    return history, tf.random.uniform((*shape, 3), -1.0, 1.0)


def cpu_name() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor()


if __name__ == "__main__":
    main()
