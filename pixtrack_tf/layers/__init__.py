"""Layers: the peephole ConvLSTM of Eq. 1, the anchor spatial transformer of Sec. 4 and the
Decov-1..4 decoder of Table 1.

ROI geometry (TensorFlow, used at the edges) is in :mod:`pixtrack_tf.ops.roi`.
"""

from pixtrack_tf.layers.convlstm import PeepholeConvLSTM2D, PeepholeConvLSTM2DCell
from pixtrack_tf.layers.decoder import MaskDecoder
from pixtrack_tf.layers.transformer import AnchorTransformer

__all__ = ["PeepholeConvLSTM2D", "PeepholeConvLSTM2DCell", "AnchorTransformer", "MaskDecoder"]
