"""avgkit: Deep Multi-Scale Video Prediction Beyond Mean Square Error, in modern TensorFlow."""

import os

# TensorFlow's C++ logs would otherwise fill notebook cells; set before TensorFlow is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow leaves its oneDNN kernels off on CPUs without AVX-512; on this project's 2-core AMD
# EPYC machines they make the small presets' training steps 1.3-1.8x faster
# (benchmarks/step_time.py). Set TF_ENABLE_ONEDNN_OPTS=0 to turn them off.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"
