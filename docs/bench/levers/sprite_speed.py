"""How far Ms. Pac-Man's sprites move per recorded frame, to choose the crop of rollout training.

Per test episode of the study's recording, the centroid of each object colour (the study's
palette, `avgkit.study.sprite_groups`) in every frame; the displacement between consecutive
frames where the colour is present in both (and the centroid moved less than 40 px, which would
be a sprite appearing elsewhere). Prints the median and 95th percentile per colour, and how far a
sprite travels over the 4 input frames and a 5-frame rollout (8 frame steps).

Usage: python docs/bench/levers/sprite_speed.py [data/mspacman-study/Test]
"""

import sys

import numpy as np

from avgkit import study
from avgkit.data import frames as frames_lib

test_dir = sys.argv[1] if len(sys.argv) > 1 else "data/mspacman-study/Test"
palette, groups = study.sprite_groups(test_dir, study.Settings())
videos, _ = frames_lib.list_videos(test_dir)
steps = {name: [] for name in palette.object_names}
for video in videos:
    frames = frames_lib.read_video(video, range(min(len(video), 400)))
    for k, index in enumerate(palette.objects):
        mask = np.all(frames == palette.colours[index], axis=-1)
        present = mask.sum(axis=(1, 2)) > 5
        ys, xs = np.indices(mask.shape[1:])
        count = np.maximum(mask.sum(axis=(1, 2)), 1)
        centroid = np.stack([(mask * ys).sum((1, 2)) / count, (mask * xs).sum((1, 2)) / count], 1)
        moved = np.linalg.norm(np.diff(centroid, axis=0), axis=1)
        both = present[1:] & present[:-1] & (moved < 40)
        steps[palette.object_names[k]] += moved[both].tolist()
player = palette.object_names[groups["player"][0]]
for name, values in steps.items():
    if values:
        median, p95 = np.median(values), np.percentile(values, 95)
        who = "player" if name == player else "ghost"
        print(
            f"{name} ({who}): {len(values)} frame pairs, median {median:.2f} px a frame, "
            f"95th percentile {p95:.2f}; over 8 frame steps about {8 * median:.0f} px "
            f"(95th: {8 * p95:.0f})"
        )
