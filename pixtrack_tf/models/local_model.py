"""The local segmentation network (Sec. 3, Fig. 2, Table 1 upper half).

ROI image x_t -> frozen VGG16 pool4 -> F-CNN (2 x 3x3 conv, relu then tanh) -> peephole ConvLSTM x2
(Eq. 1) -> 4 transposed convs (5x5, stride 2; leaky relu, last sigmoid) -> ROI probability map.
The memory of both ConvLSTM layers is initialised by M-CNN (2 x 3x3 conv, relu then tanh) from the
first frame (Sec. 3.2): "we train an initialization module that takes the object mask, and the image
in a manually chosen ROI in the first frame and generates the initial memory cell state and the
hidden state ... we use a dilated mask ... applying the mask on the layer right before the pool1
layer ... We then regress the initial memory and hidden states of ConvLSTM using the concatenated
feature." M-CNN's input is pool4 of the ROI joined with pool4 of the masked ROI (512 + 512 channels);
its 1024 output channels are split into (h1, c1, h2, c2).
"""
from __future__ import annotations

import keras
from keras import ops

from pixtrack_tf.layers.convlstm import PACKAGE, PeepholeConvLSTM2D
from pixtrack_tf.models.backbone import VGGPool4


def dilate(mask, radius: int):
    """Binary dilation of (B, H, W, 1) masks by a square of side 2 * radius + 1 (max pooling)."""
    if radius <= 0:
        return mask
    k = 2 * int(radius) + 1
    return ops.max_pool(mask, pool_size=k, strides=1, padding="same")


@keras.saving.register_keras_serializable(package=PACKAGE)
class LocalModel(keras.Model):
    """Local model Phi of Eq. (2).

    Calls:
      * ``initialize(first_image, first_mask)`` -> ``[h1, c1, h2, c2]`` (M-CNN, Sec. 3.2); the mask
        should already be dilated (see :func:`dilate`).
      * ``step(roi_image, states)`` -> ``(prob (B, S, S, 1), states)``: one tracking step.
      * ``call({"first_image", "first_mask", "images"})`` -> (B, T, S, S, 1) for x_{1:T} given
        (x_0, z_0): ``z_hat_{1:T} = Phi(z_0, x_{0:T})`` of Eq. (2), used for training.

    Images are RGB in [0, 255], S = ``roi_size``.
    """

    def __init__(
        self,
        roi_size=224,
        fcnn_filters=512,
        mcnn_filters=1024,
        lstm_filters=256,
        kernel_size=3,
        deconv_filters=(128, 64, 32),
        deconv_kernel=5,
        peepholes=True,
        backbone_weights="hed",
        feature_scale=1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if mcnn_filters != 4 * lstm_filters:
            raise ValueError(f"mcnn_filters ({mcnn_filters}) must be 4 x lstm_filters ({lstm_filters})")
        self.roi_size = int(roi_size)
        self.fcnn_filters = int(fcnn_filters)
        self.mcnn_filters = int(mcnn_filters)
        self.lstm_filters = int(lstm_filters)
        self.kernel_size = int(kernel_size)
        self.deconv_filters = tuple(int(f) for f in deconv_filters)
        self.deconv_kernel = int(deconv_kernel)
        self.peepholes = bool(peepholes)
        self.backbone_weights = str(backbone_weights)
        self.feature_scale = float(feature_scale)
        k = self.kernel_size
        self.backbone = VGGPool4(weights=backbone_weights, output_scale=feature_scale, name="backbone")
        self.fcnn = [
            keras.layers.Conv2D(fcnn_filters, k, padding="same", activation="relu", name="fcnn_1"),
            keras.layers.Conv2D(fcnn_filters, k, padding="same", activation="tanh", name="fcnn_2"),
        ]
        self.mcnn = [
            keras.layers.Conv2D(mcnn_filters, k, padding="same", activation="relu", name="mcnn_1"),
            keras.layers.Conv2D(mcnn_filters, k, padding="same", activation="tanh", name="mcnn_2"),
        ]
        self.lstm1 = PeepholeConvLSTM2D(lstm_filters, k, use_peepholes=peepholes, return_sequences=True, name="convlstm_1")
        self.lstm2 = PeepholeConvLSTM2D(lstm_filters, k, use_peepholes=peepholes, return_sequences=True, name="convlstm_2")
        self.deconvs = [
            keras.layers.Conv2DTranspose(f, deconv_kernel, strides=2, padding="same", name=f"deconv_{i + 1}")
            for i, f in enumerate(self.deconv_filters)
        ]
        self.deconvs.append(keras.layers.Conv2DTranspose(1, deconv_kernel, strides=2, padding="same", name="deconv_4"))
        self.leaky = keras.layers.LeakyReLU(negative_slope=0.2, name="leaky_relu")
        self.feature_size = self.roi_size // 16
        self.build_all()

    # -- building -------------------------------------------------------------------------------
    def build_all(self):
        s, f = self.roi_size, self.feature_size
        self.backbone.build((None, s, s, 3))
        shape = (None, f, f, 512)
        for conv in self.fcnn:
            conv.build(shape)
            shape = (None, f, f, self.fcnn_filters)
        shape = (None, f, f, 1024)
        for conv in self.mcnn:
            conv.build(shape)
            shape = (None, f, f, self.mcnn_filters)
        self.lstm1.build((None, None, f, f, self.fcnn_filters))
        self.lstm2.build((None, None, f, f, self.lstm_filters))
        shape = (None, f, f, self.lstm_filters)
        for dc in self.deconvs:
            dc.build(shape)
            shape = (None, shape[1] * 2, shape[2] * 2, dc.filters)
        self.built = True

    def build(self, input_shape=None):
        self.build_all()

    # -- pieces ---------------------------------------------------------------------------------
    def features(self, images):
        """F-CNN(pool4(x)): (B, S, S, 3) -> (B, S/16, S/16, fcnn_filters)."""
        x = self.backbone(images)
        for conv in self.fcnn:
            x = conv(x)
        return x

    def decode(self, h):
        """Decov-1..4: (B, S/16, S/16, F) -> (B, S, S, 1) probabilities."""
        x = h
        for dc in self.deconvs[:-1]:
            x = self.leaky(dc(x))
        x = self.deconvs[-1](x)
        return ops.cast(ops.sigmoid(ops.cast(x, "float32")), "float32")

    def initialize(self, first_image, first_mask):
        """M-CNN (Sec. 3.2): ROI image and dilated mask -> [h1, c1, h2, c2]."""
        plain = self.backbone(first_image)
        masked = self.backbone(first_image, conv1_mask=first_mask)
        x = ops.concatenate([plain, masked], axis=-1)
        for conv in self.mcnn:
            x = conv(x)
        return list(ops.split(x, 4, axis=-1))

    def step(self, roi_image, states):
        """One frame: ROI image (B, S, S, 3) and [h1, c1, h2, c2] -> (prob map, new states)."""
        x = self.features(roi_image)
        states = [ops.cast(s, self.compute_dtype) for s in states]  # float32 states from a tracker
        h1, (h1, c1) = self.lstm1.cell(x, [states[0], states[1]])
        h2, (h2, c2) = self.lstm2.cell(h1, [states[2], states[3]])
        return self.decode(h2), [h1, c1, h2, c2]

    def call(self, inputs, training=False):
        first_image, first_mask, images = inputs["first_image"], inputs["first_mask"], inputs["images"]
        h1, c1, h2, c2 = self.initialize(first_image, first_mask)
        b, t = ops.shape(images)[0], ops.shape(images)[1]
        s, f = self.roi_size, self.feature_size
        x = self.features(ops.reshape(images, (-1, s, s, 3)))
        x = ops.reshape(x, (b, t, f, f, self.fcnn_filters))
        x = self.lstm1(x, initial_state=[h1, c1], training=training)
        x = self.lstm2(x, initial_state=[h2, c2], training=training)
        y = self.decode(ops.reshape(x, (-1, f, f, self.lstm_filters)))
        return ops.reshape(y, (b, t, s, s, 1))

    def get_config(self):
        config = super().get_config()
        config.update(
            roi_size=self.roi_size,
            fcnn_filters=self.fcnn_filters,
            mcnn_filters=self.mcnn_filters,
            lstm_filters=self.lstm_filters,
            kernel_size=self.kernel_size,
            deconv_filters=list(self.deconv_filters),
            deconv_kernel=self.deconv_kernel,
            peepholes=self.peepholes,
            backbone_weights=self.backbone_weights,
            feature_scale=self.feature_scale,
        )
        return config

    @classmethod
    def from_config(cls, config):
        # the saved file carries the backbone's weights: do not load them twice
        config = dict(config, backbone_weights="none")
        return cls(**config)

    @classmethod
    def from_cfg(cls, cfg, name="local_model"):
        """Build from a :class:`pixtrack_tf.config.Config`."""
        lc = cfg.local
        return cls(
            roi_size=lc.roi_size,
            fcnn_filters=lc.fcnn_filters,
            mcnn_filters=lc.mcnn_filters,
            lstm_filters=lc.lstm_filters,
            kernel_size=lc.kernel_size,
            deconv_filters=lc.deconv_filters,
            deconv_kernel=lc.deconv_kernel,
            peepholes=lc.peepholes,
            backbone_weights=cfg.backbone.weights,
            feature_scale=lc.feature_scale,
            name=name,
        )
