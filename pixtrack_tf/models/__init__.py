"""Models of Table 1 (the frozen VGG16-to-pool4 backbone, the local and the global network), the FCN
baseline of Sec. 3.4, and their objectives (Eq. 2, Eq. 4) in :mod:`pixtrack_tf.models.losses`."""

from pixtrack_tf.models.backbone import VGGPool4
from pixtrack_tf.models.fcn import FCNModel
from pixtrack_tf.models.global_model import GlobalModel
from pixtrack_tf.models.local_model import LocalModel

__all__ = ["VGGPool4", "LocalModel", "GlobalModel", "FCNModel"]
