"""Decov-1..4 of Table 1: the decoder that turns (B, S/16, S/16, F) features into an ROI
probability map (B, S, S, 1). Shared by the local model (after the ConvLSTM) and the FCN baseline.

Table 1: Decov-1..3 are 5x5 stride-2 transposed convolutions (128, 64, 32 channels) followed by a
leaky ReLU, Decov-4 a 5x5 stride-2 transposed convolution to 1 channel followed by a sigmoid.
"""

from __future__ import annotations

import keras
from keras import ops

from pixtrack_tf.layers.convlstm import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaskDecoder(keras.layers.Layer):
    """Decov-1..4 (Table 1): four 5x5 stride-2 transposed convolutions, leaky ReLU between, sigmoid at
    the end. The probabilities are float32 whatever the compute dtype.

    Args:
        filters: channels of Decov-1..3 (Decov-4 has 1).
        kernel_size: side of the transposed-convolution kernels.
        negative_slope: slope of the leaky ReLU for negative inputs.
    """

    def __init__(self, filters=(128, 64, 32), kernel_size=5, negative_slope=0.2, **kwargs):
        super().__init__(**kwargs)
        self.filters = tuple(int(f) for f in filters)
        self.kernel_size = int(kernel_size)
        self.negative_slope = float(negative_slope)
        self.deconvs = [
            keras.layers.Conv2DTranspose(
                f, kernel_size, strides=2, padding="same", name=f"deconv_{i + 1}", dtype=self.dtype_policy
            )
            for i, f in enumerate(self.filters + (1,))
        ]
        self.leaky = keras.layers.LeakyReLU(
            negative_slope=self.negative_slope, name="leaky_relu", dtype=self.dtype_policy
        )

    def build(self, input_shape):
        shape = tuple(input_shape)
        for dc in self.deconvs:
            dc.build(shape)
            shape = (
                shape[0],
                None if shape[1] is None else shape[1] * 2,
                None if shape[2] is None else shape[2] * 2,
                dc.filters,
            )

    def call(self, features):
        x = features
        for dc in self.deconvs[:-1]:
            x = self.leaky(dc(x))
        return ops.sigmoid(ops.cast(self.deconvs[-1](x), "float32"))

    def compute_output_shape(self, input_shape):
        up = lambda d: None if d is None else d * 16  # noqa: E731
        return (input_shape[0], up(input_shape[1]), up(input_shape[2]), 1)

    def compute_output_spec(self, features):
        return keras.KerasTensor(self.compute_output_shape(features.shape), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(filters=list(self.filters), kernel_size=self.kernel_size, negative_slope=self.negative_slope)
        return config
