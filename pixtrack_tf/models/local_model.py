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
from pixtrack_tf.layers.decoder import MaskDecoder
from pixtrack_tf.models.backbone import VGGPool4
from pixtrack_tf.models.base import ArgsConfig, FromSaved, section_kwargs


@keras.saving.register_keras_serializable(package=PACKAGE)
class LocalModel(ArgsConfig, FromSaved, keras.Model):
    """Local model Phi of Eq. 2.

    Calls:
      * ``initialize(first_image, first_mask)`` -> ``[h1, c1, h2, c2]`` (M-CNN, Sec. 3.2); the mask
        should already be dilated (:func:`pixtrack_tf.ops.roi.dilate` by ``cfg.local.mask_radius``).
      * ``step(roi_image, states)`` -> ``(prob (B, S, S, 1), states)``: one tracking step.
      * ``call({"first_image", "first_mask", "images"})`` -> (B, T, S, S, 1) for x_{1:T} given
        (x_0, z_0): ``z_hat_{1:T} = Phi(z_0, x_{0:T})`` of Eq. 2, used for training.
      * ``call({"first_pool4", "first_masked_pool4", "pool4"})``: the same from the frozen backbone's
        outputs (a feature store): pool4 of x_0, of x_0 masked before pool1, and of x_{1:T}
        (B, T, S/16, S/16, 512), as :meth:`pool4` computes them.

    Images are RGB in [0, 255], S = ``roi_size``. Sub-layers carry the model's dtype policy
    (``dtype="mixed_bfloat16"``: bfloat16 arithmetic on float32 weights).

    Args:
        roi_size: side S of the ROI images; pool4 is S / 16.
        fcnn_filters: channels of F-CNN's two 3x3 convolutions.
        mcnn_filters: channels of M-CNN's two 3x3 convolutions, 4 x ``lstm_filters`` (h1, c1, h2, c2).
        lstm_filters: channels of both peephole ConvLSTM layers.
        kernel_size: kernel side of F-CNN, M-CNN and the ConvLSTMs.
        deconv_filters: channels of Decov-1..3 (Decov-4 has 1).
        deconv_kernel: kernel side of Decov-1..4.
        peepholes: False for the "without peepholes" ablation.
        backbone_weights: the frozen VGG16's weights, ``"hed"``, ``"none"`` or a file.
        feature_scale: fixed factor on pool4 (see :class:`VGGPool4`).
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
        k, dt = self.kernel_size, self.dtype_policy
        self.backbone = VGGPool4(weights=backbone_weights, output_scale=feature_scale, name="backbone", dtype=dt)
        self.fcnn = [
            keras.layers.Conv2D(fcnn_filters, k, padding="same", activation="relu", name="fcnn_1", dtype=dt),
            keras.layers.Conv2D(fcnn_filters, k, padding="same", activation="tanh", name="fcnn_2", dtype=dt),
        ]
        self.mcnn = [
            keras.layers.Conv2D(mcnn_filters, k, padding="same", activation="relu", name="mcnn_1", dtype=dt),
            keras.layers.Conv2D(mcnn_filters, k, padding="same", activation="tanh", name="mcnn_2", dtype=dt),
        ]
        lstm = dict(use_peepholes=peepholes, return_sequences=True, dtype=dt)
        self.lstm1 = PeepholeConvLSTM2D(lstm_filters, k, name="convlstm_1", **lstm)
        self.lstm2 = PeepholeConvLSTM2D(lstm_filters, k, name="convlstm_2", **lstm)
        self.decoder = MaskDecoder(self.deconv_filters, deconv_kernel, name="decoder", dtype=dt)
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
        self.decoder.build((None, f, f, self.lstm_filters))
        self.built = True

    def build(self, input_shape=None):
        self.build_all()

    # -- pieces ---------------------------------------------------------------------------------
    def pool4(self, images, conv1_mask=None):
        """The frozen backbone (scaled pool4): (B, S, S, 3) -> (B, S/16, S/16, 512)."""
        return self.backbone(images, conv1_mask=conv1_mask)

    def fcnn_features(self, pool4):
        """F-CNN on pool4 features: (B, S/16, S/16, 512) -> (B, S/16, S/16, fcnn_filters)."""
        x = ops.cast(pool4, self.compute_dtype)
        for conv in self.fcnn:
            x = conv(x)
        return x

    def features(self, images):
        """F-CNN(pool4(x)): (B, S, S, 3) -> (B, S/16, S/16, fcnn_filters)."""
        return self.fcnn_features(self.pool4(images))

    def decode(self, h):
        """Decov-1..4: (B, S/16, S/16, F) -> (B, S, S, 1) float32 probabilities."""
        return self.decoder(h)

    def initialize_pool4(self, plain, masked):
        """M-CNN (Sec. 3.2) on pool4 of the first ROI and of the masked first ROI -> [h1, c1, h2, c2]."""
        x = ops.cast(ops.concatenate([plain, masked], axis=-1), self.compute_dtype)
        for conv in self.mcnn:
            x = conv(x)
        return list(ops.split(x, 4, axis=-1))

    def first_pool4(self, first_image, first_mask):
        """M-CNN's inputs (Sec. 3.2): pool4 of the first ROI and of the ROI masked by the dilated mask
        before pool1, each (B, S/16, S/16, 512)."""
        return self.pool4(first_image), self.pool4(first_image, conv1_mask=first_mask)

    def initialize(self, first_image, first_mask):
        """M-CNN (Sec. 3.2): ROI image and dilated mask -> [h1, c1, h2, c2]."""
        return self.initialize_pool4(*self.first_pool4(first_image, first_mask))

    def head_variables(self):
        """The trainable variables after the frozen backbone: F-CNN, M-CNN, both ConvLSTMs and the
        decoder (what ``track.local_finetune_steps`` adapts on a clip's first ROI)."""
        layers = self.fcnn + self.mcnn + [self.lstm1, self.lstm2, self.decoder]
        return [v for layer in layers for v in layer.trainable_variables]

    def step(self, roi_image, states):
        """One frame: ROI image (B, S, S, 3) and [h1, c1, h2, c2] -> (prob map, new states)."""
        return self.step_pool4(self.pool4(roi_image), states)

    def step_pool4(self, pool4, states):
        """:meth:`step` from the frozen backbone's output (B, S/16, S/16, 512)."""
        x = self.fcnn_features(pool4)
        states = [ops.cast(s, self.compute_dtype) for s in states]  # float32 states from a tracker
        h1, (h1, c1) = self.lstm1.cell(x, [states[0], states[1]])
        h2, (h2, c2) = self.lstm2.cell(h1, [states[2], states[3]])
        return self.decode(h2), [h1, c1, h2, c2]

    def call(self, inputs, training=False):
        f = self.feature_size
        if "pool4" in inputs:  # stored backbone features
            h1, c1, h2, c2 = self.initialize_pool4(inputs["first_pool4"], inputs["first_masked_pool4"])
            p4 = inputs["pool4"]
            b, t = ops.shape(p4)[0], ops.shape(p4)[1]
            x = self.fcnn_features(ops.reshape(p4, (-1, f, f, 512)))
        else:
            h1, c1, h2, c2 = self.initialize(inputs["first_image"], inputs["first_mask"])
            images = inputs["images"]
            b, t = ops.shape(images)[0], ops.shape(images)[1]
            x = self.features(ops.reshape(images, (-1, self.roi_size, self.roi_size, 3)))
        x = ops.reshape(x, (b, t, f, f, self.fcnn_filters))
        x = self.lstm1(x, initial_state=[h1, c1], training=training)
        x = self.lstm2(x, initial_state=[h2, c2], training=training)
        y = self.decode(ops.reshape(x, (-1, f, f, self.lstm_filters)))
        return ops.reshape(y, (b, t, self.roi_size, self.roi_size, 1))

    @classmethod
    def from_cfg(cls, cfg, name="local_model", dtype=None):
        """Build from a :class:`pixtrack_tf.config.Config` (``cfg.local``, ``cfg.backbone.weights``)."""
        return cls(**section_kwargs(cls, cfg.local, backbone_weights=cfg.backbone.weights, name=name, dtype=dtype))
