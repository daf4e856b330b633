"""A Keras model that holds one sub-model per scale: the common part of G and D."""

from __future__ import annotations

import keras

from avgkit.config import Config


class PerScaleModel(keras.Model):
    """Holds `build_scale(config, k)` for every scale k; `scales` lists them coarse to fine."""

    def __init__(self, config: Config, name: str, build_scale):
        # float32 outside the scales (pyramid, sums, tanh) under a mixed precision policy too
        super().__init__(name=name, dtype="float32")
        self.config = config
        # One attribute per scale: tf.train.Checkpoint does not follow Keras 3's tracked lists.
        for k in range(len(config.scale_factors)):
            setattr(self, f"scale{k}", build_scale(config, k))
        self.built = True  # every scale is a built functional model

    @property
    def scales(self) -> list[keras.Model]:
        return [getattr(self, f"scale{k}") for k in range(len(self.config.scale_factors))]
