"""avgkit: Deep Multi-Scale Video Prediction Beyond Mean Square Error, in modern TensorFlow."""

import os

# TensorFlow's C++ logs would otherwise fill notebook cells; set before TensorFlow is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow's oneDNN kernels (TF_ENABLE_ONEDNN_OPTS=1) make the small presets' 32x32 training
# steps 1.3-1.8x faster on CPUs without AVX-512, but full-frame convolutions (210x160) 20-100x
# slower there, so avgkit leaves TensorFlow's own choice alone.

__version__ = "0.1.0"
