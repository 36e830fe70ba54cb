"""The FCN baseline of Sec. 3.4 and Sec. 5.3.

"we fine tune a pre-trained segmentation network using fully convolutional neural network (FCN)
[14] structure for the local segmentation task ... The feature extraction part of our local model
use the same model up to pool4. When using the FCN segmentation network on a testing video, we fine
tune it on the first frame of testing video clips with small learning rate and few iterations, and
apply the refined model to subsequent frames."

Frozen VGG16 to pool4 (the same backbone as the local model) -> two 3x3 convs (relu) -> the same four
5x5 stride-2 transposed convs as the local model -> sigmoid. It is the local model without its
ConvLSTM and memory, so the comparison isolates what the recurrence brings. The paper's FCN was
pretrained on COCO; ours is trained on the training split's ROIs (docs/REPRODUCTION.md).
"""

from __future__ import annotations

import keras
from keras import ops

from pixtrack_tf.layers.convlstm import PACKAGE
from pixtrack_tf.layers.decoder import MaskDecoder
from pixtrack_tf.models.backbone import VGGPool4
from pixtrack_tf.models.base import ArgsConfig, FromSaved, section_kwargs


@keras.saving.register_keras_serializable(package=PACKAGE)
class FCNModel(ArgsConfig, FromSaved, keras.Model):
    """Frame-wise ROI segmentation: (B, S, S, 3) RGB in [0, 255] -> (B, S, S, 1) probabilities.

    Calls: ``call(images)``; ``head(pool4)`` from the frozen backbone's outputs (a feature store).

    Args:
        roi_size: side S of the ROI images.
        fcnn_filters: channels of the two 3x3 convolutions after pool4.
        kernel_size: their kernel side.
        deconv_filters: channels of Decov-1..3 (Decov-4 has 1).
        deconv_kernel: kernel side of Decov-1..4.
        backbone_weights: the frozen VGG16's weights, ``"hed"``, ``"none"`` or a file.
        feature_scale: fixed factor on pool4 (see :class:`VGGPool4`).
    """

    def __init__(
        self,
        roi_size=224,
        fcnn_filters=512,
        kernel_size=3,
        deconv_filters=(128, 64, 32),
        deconv_kernel=5,
        backbone_weights="hed",
        feature_scale=1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.roi_size = int(roi_size)
        self.fcnn_filters = int(fcnn_filters)
        self.kernel_size = int(kernel_size)
        self.deconv_filters = tuple(int(f) for f in deconv_filters)
        self.deconv_kernel = int(deconv_kernel)
        self.backbone_weights = str(backbone_weights)
        self.feature_scale = float(feature_scale)
        dt = self.dtype_policy
        self.backbone = VGGPool4(weights=backbone_weights, output_scale=feature_scale, name="backbone", dtype=dt)
        self.convs = [
            keras.layers.Conv2D(
                self.fcnn_filters, kernel_size, padding="same", activation="relu", name=f"fcn_conv_{i + 1}", dtype=dt
            )
            for i in range(2)
        ]
        self.decoder = MaskDecoder(self.deconv_filters, deconv_kernel, name="decoder", dtype=dt)
        s, f = self.roi_size, self.roi_size // 16
        self.backbone.build((None, s, s, 3))
        shape = (None, f, f, 512)
        for c in self.convs:
            c.build(shape)
            shape = (None, f, f, self.fcnn_filters)
        self.decoder.build(shape)
        self.built = True

    def build(self, input_shape=None):
        pass

    def head_variables(self):
        """The trainable variables after the frozen backbone (what first-frame fine-tuning adapts)."""
        return [v for layer in self.convs + [self.decoder] for v in layer.trainable_variables]

    def head(self, pool4):
        """Everything after the backbone: (B, S/16, S/16, 512) -> (B, S, S, 1) probabilities."""
        x = ops.cast(pool4, self.compute_dtype)
        for c in self.convs:
            x = c(x)
        return self.decoder(x)

    def call(self, images, training=False):
        return self.head(self.backbone(images))

    @classmethod
    def from_cfg(cls, cfg, name="fcn_model", dtype=None):
        """Build from a :class:`pixtrack_tf.config.Config` (``cfg.local``, ``cfg.backbone.weights``)."""
        return cls(**section_kwargs(cls, cfg.local, backbone_weights=cfg.backbone.weights, name=name, dtype=dtype))
