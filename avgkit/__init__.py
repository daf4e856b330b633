"""avgkit: Deep Multi-Scale Video Prediction Beyond Mean Square Error, in modern TensorFlow."""

import os

# TensorFlow's C++ logs would otherwise fill notebook cells; set before TensorFlow is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
