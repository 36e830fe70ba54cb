"""pixtrack_tf: a TensorFlow/Keras reproduction of "Pixel-wise object tracking" (Song, Li, Wang).

Layers (Eq. 1, Sec. 4) -> models (Table 1) -> tracking (Algorithm 1) -> training (Eq. 2, Eq. 4,
Sec. 5.1) / evaluation (Eq. 3, Tables 2, 3) -> experiments (settings chosen on the training split)
-> command-line entry points.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.2.0"

# The package's layers, lowest first: a module imports only from its own layer and the ones below
# (tests/test_layering.py checks it). Commands sit on top: ``cli`` and the ``python -m`` shims.
LAYERS = (
    ("config", "provenance"),
    ("layers",),
    ("models",),
    ("data", "tracking"),
    ("training", "evaluation"),
    ("experiments",),
    ("cli", "train", "track", "reproduce", "export", "summary", "bench"),
)
