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
from pixtrack_tf.models.backbone import VGGPool4


@keras.saving.register_keras_serializable(package=PACKAGE)
class FCNModel(keras.Model):
    """Frame-wise ROI segmentation: (B, S, S, 3) RGB in [0, 255] -> (B, S, S, 1) probabilities."""

    def __init__(self, roi_size=224, filters=512, kernel_size=3, deconv_filters=(128, 64, 32), deconv_kernel=5, backbone_weights="hed", feature_scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.roi_size = int(roi_size)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.deconv_filters = tuple(int(f) for f in deconv_filters)
        self.deconv_kernel = int(deconv_kernel)
        self.backbone_weights = str(backbone_weights)
        self.feature_scale = float(feature_scale)
        self.backbone = VGGPool4(weights=backbone_weights, output_scale=feature_scale, name="backbone")
        self.convs = [keras.layers.Conv2D(filters, kernel_size, padding="same", activation="relu", name=f"fcn_conv_{i + 1}") for i in range(2)]
        self.deconvs = [
            keras.layers.Conv2DTranspose(f, deconv_kernel, strides=2, padding="same", name=f"deconv_{i + 1}")
            for i, f in enumerate(self.deconv_filters)
        ] + [keras.layers.Conv2DTranspose(1, deconv_kernel, strides=2, padding="same", name="deconv_4")]
        self.leaky = keras.layers.LeakyReLU(negative_slope=0.2)
        s, f = self.roi_size, self.roi_size // 16
        self.backbone.build((None, s, s, 3))
        shape = (None, f, f, 512)
        for c in self.convs:
            c.build(shape)
            shape = (None, f, f, self.filters)
        for dc in self.deconvs:
            dc.build(shape)
            shape = (None, shape[1] * 2, shape[2] * 2, dc.filters)
        self.built = True

    def build(self, input_shape=None):
        pass

    def head_variables(self):
        return [v for l in self.convs + self.deconvs for v in l.trainable_variables]

    def call(self, images, training=False):
        x = self.backbone(images)
        for c in self.convs:
            x = c(x)
        for dc in self.deconvs[:-1]:
            x = self.leaky(dc(x))
        return ops.sigmoid(ops.cast(self.deconvs[-1](x), "float32"))

    def get_config(self):
        config = super().get_config()
        config.update(
            roi_size=self.roi_size, filters=self.filters, kernel_size=self.kernel_size,
            deconv_filters=list(self.deconv_filters), deconv_kernel=self.deconv_kernel, backbone_weights=self.backbone_weights, feature_scale=self.feature_scale,
        )  # fmt: skip
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**dict(config, backbone_weights="none"))

    @classmethod
    def from_cfg(cls, cfg, name="fcn_model"):
        lc = cfg.local
        return cls(lc.roi_size, lc.fcnn_filters, lc.kernel_size, lc.deconv_filters, lc.deconv_kernel, cfg.backbone.weights, lc.feature_scale, name=name)
