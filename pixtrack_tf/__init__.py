"""pixtrack_tf: a TensorFlow/Keras reproduction of "Pixel-wise object tracking" (Song, Li, Wang).

ops, layers (Eq. 1, Sec. 4) -> models (Table 1) -> data, tracking (Algorithm 1) -> training (Eq. 2,
Eq. 4, Sec. 5.1), evaluation (Eq. 3), runs -> experiments (Tables 2, 3, claims, settings chosen on
the training split), bench -> the ``pixtrack`` command (``cli``).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.2.0"

# The package's layers, lowest first: a module imports only from its own layer and the ones below
# (tests/test_layering.py checks it). ``runs`` (run folders, bundled models, the tracker a --model
# names) sits beside training and evaluation; ``experiments`` (reproduce, the paper's tables, claims,
# settings chosen on the training split) and ``bench`` (speed and FLOPs) above them; the commands on
# top: ``cli`` and the two entry modules ``python -m pixtrack_tf CMD`` / ``python -m pixtrack_tf.reproduce``.
LAYERS = (
    ("config", "provenance", "console", "hardware"),
    ("ops", "layers"),
    ("models",),
    ("data", "tracking"),
    ("training", "evaluation", "runs"),
    ("experiments", "bench"),
    ("cli", "__main__", "reproduce"),
)
