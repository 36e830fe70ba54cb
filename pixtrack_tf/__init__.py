"""pixtrack_tf: a TensorFlow/Keras reproduction of "Pixel-wise object tracking" (Song, Li, Wang).

Layers (Eq. 1, Sec. 4) -> models (Table 1) -> tracking (Algorithm 1) -> training (Eq. 2, Eq. 4,
Sec. 5.1) / evaluation (Eq. 3, Tables 2, 3) -> command-line entry points.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
