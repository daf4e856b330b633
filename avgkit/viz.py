"""Figures for the notebooks and reports (matplotlib, no state kept between calls)."""

from __future__ import annotations

import matplotlib.pyplot as plt

from avgkit.data.frames import to_uint8


def frame_strip(frames, titles=None, height: float = 2.6, suptitle: str | None = None):
    """A row of images: uint8 (n, H, W, 3), or float in [-1, 1]. Returns the figure."""
    frames = to_uint8(frames)
    width = height * frames.shape[2] / frames.shape[1]
    fig, axes = plt.subplots(
        1, len(frames), figsize=(width * len(frames), height + 0.4), squeeze=False
    )
    for index, (axis, frame) in enumerate(zip(axes[0], frames)):
        axis.imshow(frame, interpolation="nearest")
        axis.set_axis_off()
        if titles is not None:
            axis.set_title(titles[index], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def clip_grid(clips, hist_len: int, labels=None, cell: float = 1.3):
    """One clip a row, its frames left to right, the target last.

    `clips`: (n, h, w, 3 * (hist_len + 1)), uint8 or float in [-1, 1]. Returns the figure.
    """
    clips = to_uint8(clips)
    count, frames = len(clips), hist_len + 1
    fig, axes = plt.subplots(count, frames, figsize=(cell * frames, cell * count), squeeze=False)
    for row in range(count):
        for column in range(frames):
            axis = axes[row, column]
            axis.imshow(clips[row, ..., 3 * column : 3 * column + 3], interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(
                    "target" if column == hist_len else f"input {column + 1}", fontsize=8
                )
        if labels is not None:
            axes[row, 0].set_ylabel(labels[row], fontsize=8, rotation=0, ha="right", va="center")
    fig.tight_layout()
    return fig
