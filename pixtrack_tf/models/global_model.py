"""The global attention network (Sec. 4, Fig. 6, Table 1 lower half).

Resized segmentation map Z_{t-1} (map_size^2) -> four blocks of two 3x3 convs (8, 16, 32, 64),
each followed by 2x2 pooling -> peephole ConvLSTM x2 (64) -> flatten -> FC 1024 -> join the frame's
aspect ratio (1025 values) -> FC 3 = theta_t = (scale, shift_x, shift_y).

"For the second fully connected layer the input dimension is 1025, where we concatenate the
feature from last layer with aspect ratio of the current video clip." The raw FC output r is mapped
to theta by ``theta_map`` (docs/REPRODUCTION.md): ``"bounded"`` (default) keeps theta in a box the
network cannot leave, s = s_min (s_max / s_min)^sigmoid(r_0) and t = c tanh(r_{1,2}); ``"exp"``
(the first reading) is theta = (exp(r_0), r_1, r_2), positive scale and nothing else bounded, on
which the trained global model drifted to a constant box far larger than any object.

``centre_from`` says what the centre (t_x, t_y) is measured from: ``"frame"`` (Table 1 as written:
full 2 regresses the centre in the frame's coordinates) or ``"map_centroid"`` (not in the paper;
docs/REPRODUCTION.md): full 2 regresses the object's displacement from the probability-weighted
centre of the input map Z_{t-1} (Eq. 5's centre), t = c(Z_{t-1}) + ``centre_offset`` tanh(r_{1,2}).
The network then learns the motion and the scale, not where an object on a 4x4 feature grid is.
``scale_from`` does the same for the scale (not in the paper; docs/REPRODUCTION.md): ``"anchor"``
(Table 1 as written) regresses the scale itself; ``"map_box"`` regresses its change from the size of
the object in Z_{t-1} (the square around its pixels >= 0.5), s = s(Z_{t-1}) exp(``scale_change``
tanh(r_0)), clipped to ``scale_range``; on a map with no object pixel the anchor form is used.
T(theta)(Z_A) is rendered by :class:`pixtrack_tf.layers.AnchorTransformer`; theta describes the
square around the *object* (Eq. 4 fits the anchor to the object), and Algorithm 1 crops the
Sec. 3.3 ROI around it (:func:`pixtrack_tf.ops.roi.roi_around`).
"""

from __future__ import annotations

import keras
from keras import ops

from pixtrack_tf.config import CENTRE_FROM, SCALE_FROM, THETA_MAPS
from pixtrack_tf.layers.convlstm import PACKAGE, PeepholeConvLSTM2D
from pixtrack_tf.layers.transformer import AnchorTransformer, mass_centre, object_theta
from pixtrack_tf.models.base import ArgsConfig, section_kwargs


@keras.saving.register_keras_serializable(package=PACKAGE)
class GlobalModel(ArgsConfig, keras.Model):
    """Global model tau_phi of Eq. 4.

    Calls:
      * ``call({"maps": (B, T, S, S, 1), "aspect": (B, 1)})`` -> theta (B, T, 3):
        theta_t = tau(Z_{0:t-1}) when ``maps[:, t]`` holds Z_{t-1}.
      * ``step(map (B, S, S, 1), aspect (B, 1), states)`` -> ``(theta (B, 3), states)``.
      * ``initial_states(batch)`` -> zero [h1, c1, h2, c2].
      * ``render(theta, aspect)`` -> T(theta)(Z_A), (B, S, S, 1).

    Sub-layers carry the model's dtype policy; theta is float32.

    Args:
        map_size: side S of the resized segmentation map Z.
        conv_filters: channels of layers 1..4 (two 3x3 convolutions each, then 2x2 pooling).
        lstm_filters: channels of both peephole ConvLSTM layers.
        kernel_size: kernel side of the convolutions and ConvLSTMs.
        fc_units: width of "full 1".
        peepholes: False for a ConvLSTM without peepholes.
        anchor_size: the anchor Z_A (width, height) as fractions of the frame's shorter side.
        box_softness: edge width of the rendered box, in map pixels.
        theta_map: ``"bounded"`` or ``"exp"`` (the raw FC output -> theta; see the module docstring).
        scale_range: (s_min, s_max) of the bounded map.
        centre_range: the bounded map's reach of the centre, in [-1, 1] frame coordinates.
        centre_from: ``"frame"`` or ``"map_centroid"`` (see the module docstring).
        centre_offset: with ``"map_centroid"``, how far theta's centre may lie from the map's centre.
        scale_from: ``"anchor"`` or ``"map_box"`` (see the module docstring).
        scale_change: with ``"map_box"``, the bound on |log(s / s(Z_{t-1}))|.
        feature_norm: normalise the conv features before ConvLSTM 1 (not in Table 1; without it the
            features of a binary map start ~0.003 and grew to ~50-150 in training, so ConvLSTM 1 starts
            blind to its input and ends saturated: theta the same for every input).
    """

    def __init__(
        self,
        map_size=224,
        conv_filters=(8, 16, 32, 64),
        lstm_filters=64,
        kernel_size=3,
        fc_units=1024,
        peepholes=True,
        anchor_size=(0.5, 0.5),
        box_softness=1.0,
        theta_map="bounded",
        scale_range=(0.04, 2.0),
        centre_range=1.0,
        feature_norm=False,
        centre_from="frame",
        centre_offset=0.5,
        scale_from="anchor",
        scale_change=0.5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.map_size = int(map_size)
        self.conv_filters = tuple(int(f) for f in conv_filters)
        self.lstm_filters = int(lstm_filters)
        self.kernel_size = int(kernel_size)
        self.fc_units = int(fc_units)
        self.peepholes = bool(peepholes)
        self.anchor_size = tuple(float(a) for a in anchor_size)
        self.box_softness = float(box_softness)
        if theta_map not in THETA_MAPS:
            raise ValueError(f"theta_map must be one of {', '.join(THETA_MAPS)}, got {theta_map!r}")
        self.theta_map = theta_map
        self.scale_range = tuple(float(v) for v in scale_range)
        if not 0 < self.scale_range[0] < self.scale_range[1]:
            raise ValueError(f"scale_range must be (low, high) with 0 < low < high, got {scale_range}")
        self.centre_range = float(centre_range)
        self.feature_norm = bool(feature_norm)
        if centre_from not in CENTRE_FROM:
            raise ValueError(f"centre_from must be one of {', '.join(CENTRE_FROM)}, got {centre_from!r}")
        self.centre_from = centre_from
        self.centre_offset = float(centre_offset)
        if scale_from not in SCALE_FROM:
            raise ValueError(f"scale_from must be one of {', '.join(SCALE_FROM)}, got {scale_from!r}")
        self.scale_from = scale_from
        self.scale_change = float(scale_change)
        k, dt = self.kernel_size, self.dtype_policy
        self.convs = []
        for i, f in enumerate(self.conv_filters):
            for j in range(2):
                self.convs.append(
                    keras.layers.Conv2D(
                        f, k, padding="same", activation="relu", name=f"layer{i + 1}_conv{j + 1}", dtype=dt
                    )
                )
        self.pool = keras.layers.MaxPooling2D(2, 2, name="pool", dtype=dt)
        # not in Table 1: the conv features, normalised over (H, W, C) per map before ConvLSTM 1
        self.norm = (
            keras.layers.LayerNormalization(axis=(-3, -2, -1), name="feature_norm", dtype=dt) if feature_norm else None
        )
        lstm = dict(use_peepholes=peepholes, return_sequences=True, dtype=dt)
        self.lstm1 = PeepholeConvLSTM2D(lstm_filters, k, name="convlstm_1", **lstm)
        self.lstm2 = PeepholeConvLSTM2D(lstm_filters, k, name="convlstm_2", **lstm)
        self.fc1 = keras.layers.Dense(fc_units, activation="relu", name="full_1", dtype=dt)
        self.fc2 = keras.layers.Dense(3, name="full_2", kernel_initializer="zeros", dtype=dt)
        self.transformer = AnchorTransformer(
            map_size, self.anchor_size, box_softness, name="anchor_transformer", dtype=dt
        )
        self.feature_size = self.map_size // (2 ** len(self.conv_filters))
        self.build_all()

    def build_all(self):
        s = self.map_size
        shape = (None, s, s, 1)
        for i, conv in enumerate(self.convs):
            conv.build(shape)
            shape = (None, shape[1], shape[2], conv.filters)
            if i % 2 == 1:
                shape = (None, shape[1] // 2, shape[2] // 2, shape[3])
        f = self.feature_size
        if self.norm is not None:
            self.norm.build((None, f, f, self.conv_filters[-1]))
        self.lstm1.build((None, None, f, f, self.conv_filters[-1]))
        self.lstm2.build((None, None, f, f, self.lstm_filters))
        self.fc1.build((None, f * f * self.lstm_filters))
        self.fc2.build((None, self.fc_units + 1))
        self.built = True

    def build(self, input_shape=None):
        self.build_all()

    def encode(self, maps):
        """Conv layers 1..4 with pooling: (B, S, S, 1) -> (B, S/16, S/16, 64); with ``feature_norm``,
        normalised over (H, W, C) per map (layer normalisation with a learned gain and bias)."""
        x = ops.cast(maps, self.compute_dtype)
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i % 2 == 1:
                x = self.pool(x)
        return x if self.norm is None else self.norm(x)

    def head(self, h, aspect, maps):
        """full 1 -> join aspect ratio -> full 2 -> theta; h (N, f, f, F), aspect (N, 1), maps the
        input maps Z_{t-1} (N, S, S, 1) (read only with ``centre_from="map_centroid"`` or
        ``scale_from="map_box"``)."""
        x = self.fc1(ops.reshape(h, (ops.shape(h)[0], -1)))
        x = ops.concatenate([x, ops.cast(ops.reshape(aspect, (-1, 1)), x.dtype)], axis=-1)
        r = ops.cast(self.fc2(x), "float32")
        lo, hi = self.scale_range
        if self.theta_map == "exp":
            scale = ops.exp(ops.clip(r[:, :1], -6.0, 6.0))
        else:
            scale = lo * (hi / lo) ** ops.sigmoid(r[:, :1])
        if self.scale_from == "map_box":
            prev, found = object_theta(maps, ops.cast(ops.reshape(aspect, (-1, 1)), "float32"), self.anchor_size[0])
            change = prev[:, :1] * ops.exp(self.scale_change * ops.tanh(r[:, :1]))
            scale = ops.where(found[:, None], ops.clip(change, lo, hi), scale)
        if self.centre_from == "map_centroid":
            shift = mass_centre(maps)[0] + self.centre_offset * ops.tanh(r[:, 1:])
        elif self.theta_map == "exp":
            shift = r[:, 1:]
        else:
            shift = self.centre_range * ops.tanh(r[:, 1:])
        return ops.concatenate([scale, shift], axis=-1)

    def initial_states(self, batch):
        f = self.feature_size
        z = ops.zeros((batch, f, f, self.lstm_filters), dtype=self.compute_dtype)
        return [z, z, z, z]

    def step(self, zmap, aspect, states):
        x = self.encode(zmap)
        states = [ops.cast(s, self.compute_dtype) for s in states]  # float32 states from a tracker
        h1, (h1, c1) = self.lstm1.cell(x, [states[0], states[1]])
        h2, (h2, c2) = self.lstm2.cell(h1, [states[2], states[3]])
        return self.head(h2, aspect, zmap), [h1, c1, h2, c2]

    def call(self, inputs, training=False):
        maps, aspect = inputs["maps"], inputs["aspect"]
        b, t = ops.shape(maps)[0], ops.shape(maps)[1]
        s, f = self.map_size, self.feature_size
        flat = ops.reshape(maps, (-1, s, s, 1))
        x = self.encode(flat)
        x = ops.reshape(x, (b, t, f, f, self.conv_filters[-1]))
        x = self.lstm2(self.lstm1(x, training=training), training=training)
        x = ops.reshape(x, (-1, f, f, self.lstm_filters))
        asp = ops.reshape(ops.repeat(ops.reshape(aspect, (-1, 1)), t, axis=0), (-1, 1))
        theta = self.head(x, asp, flat)
        return ops.reshape(theta, (b, t, 3))

    def render(self, theta, aspect):
        return self.transformer(theta, aspect)

    @classmethod
    def from_cfg(cls, cfg, name="global_model", dtype=None):
        """Build from a :class:`pixtrack_tf.config.Config` (``cfg.global_``)."""
        return cls(**section_kwargs(cls, cfg.global_, name=name, dtype=dtype))
