"""Models of Table 1 (the frozen VGG16-to-pool4 backbone, the local and the global network), the FCN
baseline of Sec. 3.4, and their objectives (Eq. 2, Eq. 4) in :mod:`pixtrack_tf.models.losses`."""

from pixtrack_tf.models.backbone import VGGPool4
from pixtrack_tf.models.fcn import FCNModel
from pixtrack_tf.models.global_model import GlobalModel
from pixtrack_tf.models.local_model import LocalModel

__all__ = ["VGGPool4", "LocalModel", "GlobalModel", "FCNModel", "model_class"]


def model_class(part: str):
    """The model class a run part holds, from its name: ``local``, ``global``, ``fcn`` and ``plus``, or
    a Sec. 5.1 step's part (``step1_local_a``, ``step4_global``, ...). Raises ValueError otherwise."""
    from pixtrack_tf.models.plus import PlusModel  # beyond the paper; imported only when asked for

    for key, cls in (("plus", PlusModel), ("fcn", FCNModel), ("global", GlobalModel), ("local", LocalModel)):
        if key in part:
            return cls
    raise ValueError(f"{part}: not a model part (its name says neither local, global, fcn nor plus)")
