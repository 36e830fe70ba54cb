"""pixtrack+ (not the paper): the learned part that refines the feature-affinity memory read.

The frozen HED VGG16 runs once per frame (the frame resized by ``affinity.scale``); its conv4_3
features are what the memory is read with (:mod:`pixtrack_tf.tracking.affinity`), and the same pass's
conv4_3, conv3_3 and conv2_2 outputs go to :class:`PlusDecoder` with that read (the object's
probability at each stride): a U-shaped decoder that starts from the read (its last layer is zero at
initialisation and, with ``residual``, adds to the read's logit) and learns what the read cannot give,
the frame's boundaries at stride 2 (HED's weights were trained for exactly these side outputs) and
where the read is wrong.
"""

from __future__ import annotations

import keras
from keras import ops

from pixtrack_tf.config import PLUS_SKIPS
from pixtrack_tf.layers.convlstm import PACKAGE
from pixtrack_tf.models.backbone import VGG_POOL4_LAYERS, VGGPool4
from pixtrack_tf.models.base import ArgsConfig, FromSaved

TAP_CHANNELS = dict(layer for layer in VGG_POOL4_LAYERS if layer != "pool")  # backbone layer -> channels
PRIOR_EPS = 1e-3  # the read's probability is clipped to [eps, 1 - eps] before its logit


def prior_logit(p):
    p = ops.clip(ops.cast(p, "float32"), PRIOR_EPS, 1.0 - PRIOR_EPS)
    return ops.log(p) - ops.log(1.0 - p)


def upsample_bilinear(x, factor: int):
    """(B, h, w, C) -> (B, factor h, factor w, C), bilinear with half-pixel centres and clamped edges: what
    ``ops.image.resize(x, (factor h, factor w))`` gives, for spatial sizes only known when the graph runs
    (pixtrack+'s ``plus.roi: mask`` boxes), where ``ops.image.resize`` needs them as numbers."""
    for axis in (1, 2):
        n = ops.shape(x)[axis]
        first = ops.take(x, ops.convert_to_tensor([0]), axis=axis)
        last = ops.take(x, ops.convert_to_tensor([-1]) + n, axis=axis)
        prev = ops.concatenate([first, ops.take(x, ops.arange(n - 1), axis=axis)], axis=axis)
        nxt = ops.concatenate([ops.take(x, ops.arange(1, n), axis=axis), last], axis=axis)
        phases = []
        for r in range(factor):  # output position factor i + r reads source position i + d
            d = (r + 0.5) / factor - 0.5
            phases.append((1.0 - abs(d)) * x + abs(d) * (prev if d < 0 else nxt))
        shape = list(ops.shape(x))
        shape[axis] = n * factor
        x = ops.reshape(ops.stack(phases, axis=axis + 1), shape)
    return x


@keras.saving.register_keras_serializable(package=PACKAGE)
class PlusDecoder(ArgsConfig, keras.layers.Layer):
    """Backbone taps + the memory read -> object logits at the finest skip's stride.

    Call: ``decoder(taps, prior)``; ``taps``: {layer name: (B, h/s, w/s, C)} with ``block4_conv3`` and
    each of ``skips``; ``prior``: (B, h, w, ``prior_channels``) the memory read's probability at the
    resized frame's size (h, w multiples of 8), then, with 2 channels, the mask prior (the previous
    frame's mask, MaskTrack's input). Returns float32 logits (B, h/s, w/s, 1), s = the finest skip's
    stride: 1 with ``block1_conv2``, 2 with ``block2_conv2``, 4 with ``block3_conv3`` alone, 8 with none.

    Args:
        skips: the lower backbone layers used (``block1_conv2``, ``block2_conv2``, ``block3_conv3``).
        width: channels of the finest stage (x2 at stride 4, x4 at stride 8).
        residual: add the read's logit to the output (the decoder refines the read).
        prior_channels: 1 (the read) or 2 (the read and the mask prior, ``plus.mask_prior``).
        context: residual 3 x 3 convolutions at stride 8 after the first two, with dilations 2, 4, ...,
            each reading the previous stage and the read (``plus.context``; 0: none).
    """

    def __init__(
        self, skips=("block2_conv2", "block3_conv3"), width=32, residual=True, prior_channels=1, context=0, **kwargs
    ):
        super().__init__(**kwargs)
        self.skips = tuple(sorted(skips, key=lambda s: -PLUS_SKIPS[s]))  # coarse to fine
        self.width, self.residual = int(width), bool(residual)
        self.prior_channels, self.context = int(prior_channels), int(context)
        if self.prior_channels not in (1, 2):
            raise ValueError(f"prior_channels must be 1 or 2, got {prior_channels}")
        if self.context < 0:
            raise ValueError(f"context must be >= 0, got {context}")
        dt = self.dtype_policy

        def conv(filters, k, name, **kw):
            return keras.layers.Conv2D(filters, k, padding="same", name=name, dtype=dt, **kw)

        w4 = 4 * self.width
        self.reduce4 = conv(w4, 1, "reduce4", activation="relu")
        self.convs4 = [conv(w4, 3, f"conv4_{i}", activation="relu") for i in range(2)]
        self.context4 = [
            conv(w4, 3, f"context4_{i}", activation="relu", dilation_rate=2 ** (i + 1)) for i in range(self.context)
        ]
        self.stages = []
        for s in self.skips:
            c = self.width * PLUS_SKIPS[s] // 2
            self.stages.append(
                (conv(c, 1, f"reduce_{s}", activation="relu"), conv(c, 3, f"fuse_{s}", activation="relu"))
            )
        self.out = conv(1, 1, "logit", kernel_initializer="zeros")

    def build(self, taps_shape=None, prior_shape=None):
        self.reduce4.build((None, None, None, TAP_CHANNELS["block4_conv3"]))
        c = self.prior_channels
        for layer in (*self.convs4, *self.context4):  # each reads the previous stage and the read at stride 8
            layer.build((None, None, None, 4 * self.width + c))
        prev = 4 * self.width
        for s, (reduce, fuse) in zip(self.skips, self.stages):
            reduce.build((None, None, None, TAP_CHANNELS[s]))
            fuse.build((None, None, None, prev + reduce.filters + c))
            prev = fuse.filters
        self.out.build((None, None, None, prev))
        self.built = True

    def _prior_at(self, prior, stride):
        return prior if stride == 1 else ops.average_pool(prior, stride, stride, padding="valid")

    def call(self, taps, prior):
        prior = ops.cast(prior, self.compute_dtype)
        x = self.reduce4(ops.cast(taps["block4_conv3"], self.compute_dtype))
        prior8 = self._prior_at(prior, 8)
        for layer in self.convs4:
            x = layer(ops.concatenate([x, prior8], axis=-1))
        for layer in self.context4:  # residual: the stage as it was, plus what the wider view adds
            x = x + layer(ops.concatenate([x, prior8], axis=-1))
        stride = prev_stride = 8
        for s, (reduce, fuse) in zip(self.skips, self.stages):
            stride = PLUS_SKIPS[s]
            skip = reduce(ops.cast(taps[s], self.compute_dtype))
            size = ops.shape(skip)[1:3]
            if all(isinstance(v, int) for v in size):
                x = ops.image.resize(x, size, interpolation="bilinear")
            else:  # sizes known only when the graph runs (a box of the frame): the same upsampling
                x = upsample_bilinear(x, prev_stride // stride)
            prev_stride = stride
            x = fuse(ops.concatenate([x, skip, self._prior_at(prior, stride)], axis=-1))
        logits = ops.cast(self.out(x), "float32")
        if self.residual:
            logits = logits + prior_logit(self._prior_at(prior[..., :1], stride))
        return logits

    @property
    def stride(self) -> int:
        return PLUS_SKIPS[self.skips[-1]] if self.skips else 8


@keras.saving.register_keras_serializable(package=PACKAGE)
class PlusModel(ArgsConfig, FromSaved, keras.Model):
    """The frozen backbone and :class:`PlusDecoder`: ``model(images, prior)`` -> logits at the
    decoder's stride; images (B, h, w, 3) RGB in [0, 255], h and w multiples of 8; prior (B, h, w,
    ``prior_channels``).
    ``taps(images)`` gives the backbone's outputs the decoder and the memory read share."""

    def __init__(
        self,
        skips=("block2_conv2", "block3_conv3"),
        width=32,
        residual=True,
        backbone_weights="hed",
        prior_channels=1,
        context=0,
        **kw,
    ):
        super().__init__(**kw)
        self.skips, self.width, self.residual = tuple(skips), int(width), bool(residual)
        self.prior_channels, self.context = int(prior_channels), int(context)
        self.backbone_weights = str(backbone_weights)
        self.backbone = VGGPool4(weights=backbone_weights, name="backbone", dtype=self.dtype_policy)
        self.backbone.build((None, None, None, 3))
        self.decoder = PlusDecoder(
            self.skips, width, residual, self.prior_channels, self.context, name="decoder", dtype=self.dtype_policy
        )
        self.decoder.build()
        self.built = True

    def build(self, input_shape=None):
        pass

    @property
    def tap_names(self) -> tuple[str, ...]:
        return (*self.decoder.skips, "block4_conv3")

    def taps(self, images) -> dict:
        return dict(zip(self.tap_names, self.backbone.taps(images, self.tap_names)))

    def call(self, images, prior, training=False):
        return self.decoder(self.taps(images), prior)

    @classmethod
    def from_cfg(cls, cfg, name="plus_model", dtype=None):
        """Build from a :class:`pixtrack_tf.config.Config` (``cfg.plus``, ``cfg.backbone.weights``)."""
        p = cfg.plus
        channels = 1 if p.mask_prior == "none" else 2
        return cls(p.skips, p.width, p.residual, cfg.backbone.weights, channels, p.context, name=name, dtype=dtype)
