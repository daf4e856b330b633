"""How many steps G alone needs to draw the sprites of notebook 05's clips, per preset: G trains
on 05's data (3 Ms. Pac-Man episodes of 200 frames, 4,000 clips, seed 0) with l1 + GDL and Adam
at --rate, and every --every steps its one-step predictions of the first shard's 32 most moving
clips (`ShardBatches.fixed`, the clips 05's fixed batch comes from) are scored with
`metrics.sprites_kept` against the truth: mass (1 as crisp as the truth) and placed. The
shipped generators named by --references are scored on the same clips first.

    python tools/fixed_batch_probe.py --presets small official --steps 1600 [--out probe.json]

Steps, not seconds, are compared: time one step of each preset with `avgkit bench`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
from PIL import Image

from avgkit import config, home, metrics, pretrained, train
from avgkit.data import atari, pipeline

RECORDING = atari.Recording(
    game="MsPacman", train_episodes=3, test_episodes=1, frames=200, seed=0
)  # notebook 05's defaults
NUM_CLIPS = 4000
SCORED_CLIPS = 32


def fixed_clips(cfg: config.Config):
    """(clips_dir, history, truth, palette): notebook 05's clips, the first shard's
    SCORED_CLIPS most moving clips split into unit-range history and next frame, and the
    palette of the training episodes."""
    data_dir = home.recording(RECORDING, progress=False)
    clips_dir = home.clips(data_dir / "Train", NUM_CLIPS, seed=0, progress=False)
    episodes = [sorted(folder.glob("*.png")) for folder in sorted((data_dir / "Train").iterdir())]
    length = min(len(frames) for frames in episodes)
    videos = [[np.asarray(Image.open(path)) for path in frames[:length]] for frames in episodes]
    batches = train.ShardBatches(clips_dir, cfg, seed=0)
    clips = pipeline.to_unit(batches.fixed(SCORED_CLIPS))
    batches.close()
    history, truth = pipeline.split_clip(clips, cfg.hist_len)
    return clips_dir, history, truth, metrics.find_palette(np.array(videos))


def scores(generator, history, truth, palette) -> dict:
    """Mean mass and placed of the generator's full-size one-step predictions."""
    prediction = generator(history)[-1].numpy()
    mass, placed = metrics.sprites_kept(metrics.sprite_counts(prediction, truth, palette))
    return {"mass": float(np.nanmean(mass)), "placed": float(np.nanmean(placed))}


def probe(preset: str, steps: int, rate: float, every: int) -> list[dict]:
    """[{step, mass, placed}] every `every` steps of G alone at `preset`."""
    cfg = dataclasses.replace(config.preset(preset), g_optimizer="adam", g_learning_rate=rate)
    cfg = config.with_loss(cfg, "l1_gdl")
    clips_dir, history, truth, palette = fixed_clips(cfg)
    batches = train.ShardBatches(clips_dir, cfg, seed=0)
    trainer = train.Trainer(cfg, adversarial=False, seed=0)
    rows = []
    for step in range(1, steps + 1):
        trainer.train_step(*batches.batch(step - 1))
        if step % every == 0:
            rows.append({"step": step, **scores(trainer.generator, history, truth, palette)})
            print(f"{preset:>9} step {step:>5}: {_shown(rows[-1])}", flush=True)
    batches.close()
    return rows


def _shown(row: dict) -> str:
    return f"mass {row['mass']:.2f}  placed {row['placed']:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="*", default=["small", "official"])
    parser.add_argument("--steps", type=int, default=1600)
    parser.add_argument("--rate", type=float, default=1e-3)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--references", nargs="*", default=["l1_gdl_long", "l1_gdl"])
    parser.add_argument("--out", help="write the curves as JSON here")
    args = parser.parse_args(argv)
    found = {"rate": args.rate, "clips": SCORED_CLIPS, "references": {}}
    _, history, truth, palette = fixed_clips(config.preset("official"))
    for name in args.references:
        found["references"][name] = scores(pretrained.load(name), history, truth, palette)
        print(f"pretrained:{name}: {_shown(found['references'][name])}", flush=True)
    found["curves"] = {p: probe(p, args.steps, args.rate, args.every) for p in args.presets}
    if args.out:
        with open(args.out, "w") as file:
            json.dump(found, file, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
