"""avgkit: Deep Multi-Scale Video Prediction Beyond Mean Square Error, in modern TensorFlow."""

import os

# TensorFlow's C++ logs would otherwise fill notebook cells; set before TensorFlow is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow's oneDNN kernels: on by default on Linux x86 CPUs with VNNI, BF16 or AMX, where
# they made training steps 2.3-2.7x and rollouts 1.64-2.0x faster than without (Intel Xeon with
# AMX); off by default on plain AVX2 CPUs, where TF_ENABLE_ONEDNN_OPTS=1 made 32x32 training
# steps 1.3-1.8x faster but full-frame (210x160) convolutions 20-100x slower. avgkit leaves
# TensorFlow's choice alone (README, Performance); `avgkit train --mixed_precision` refuses to
# run with them off.

__version__ = "0.1.0"
