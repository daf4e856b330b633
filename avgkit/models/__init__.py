"""The paper's multi-scale generator and discriminator (Keras 3, TensorFlow backend)."""

from avgkit.models.discriminator import (
    Discriminator,
    build_discriminator,
    build_scale_discriminator,
    concat_batches,
)
from avgkit.models.generator import (
    Generator,
    build_generator,
    build_scale_generator,
    downsample,
    next_history,
    pyramid,
    scale_sizes,
    unroll,
    upsample_to,
    with_actions,
)

__all__ = [
    "Discriminator",
    "Generator",
    "build_discriminator",
    "build_generator",
    "build_scale_discriminator",
    "build_scale_generator",
    "concat_batches",
    "downsample",
    "next_history",
    "pyramid",
    "scale_sizes",
    "unroll",
    "upsample_to",
    "with_actions",
]
