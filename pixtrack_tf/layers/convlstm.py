"""Peephole convolutional LSTM of Eq. 1.

    i_t = sigma(W_xi * X_t + W_hi * H_{t-1} + W_ci o C_{t-1} + b_i)
    f_t = sigma(W_xf * X_t + W_hf * H_{t-1} + W_cf o C_{t-1} + b_f)
    C_t = f_t o C_{t-1} + i_t o tanh(W_xc * X_t + W_hc * H_{t-1} + b_c)
    o_t = sigma(W_xo * X_t + W_ho * H_{t-1} + W_co o C_t + b_o)
    H_t = o_t o tanh(C_t)

``*`` is a 2-D convolution ("same" padding, stride 1) and ``o`` the Hadamard product, so the
peepholes W_ci, W_cf, W_co have the shape of C, (H, W, F): one weight per pixel and channel.
This is what makes the layer not translation-equivariant (Sec. 3.1). Keras' own ConvLSTM2D has
no peepholes, hence this cell.
"""

from __future__ import annotations

import keras
from keras import ops

PACKAGE = "pixtrack_tf"


@keras.saving.register_keras_serializable(package=PACKAGE)
class PeepholeConvLSTM2DCell(keras.layers.Layer):
    """One time step of Eq. 1.

    Weights: ``kernel`` (k, k, C_in, 4F), ``recurrent_kernel`` (k, k, F, 4F), ``bias`` (4F),
    gates ordered i, f, c, o along the last axis; ``peephole_i``, ``peephole_f``, ``peephole_o``
    (H, W, F). With ``use_peepholes=False`` the peepholes are not created and the cell is a plain
    convolutional LSTM (the "without peepholes" ablation).

    Call: ``cell(x, [h, c]) -> (h_new, [h_new, c_new])`` with x (B, H, W, C_in), h and c (B, H, W, F).

    Args:
        filters: F, the channels of the state.
        kernel_size: side of the input and recurrent convolution kernels.
        use_peepholes: False drops W_ci, W_cf, W_co (a plain convolutional LSTM).
        kernel_initializer: initializer of the input kernel.
        recurrent_initializer: initializer of the recurrent kernel.
        unit_forget_bias: start the forget gate's bias at 1.
    """

    def __init__(
        self,
        filters,
        kernel_size=3,
        use_peepholes=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        unit_forget_bias=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size) if not isinstance(kernel_size, (tuple, list)) else int(kernel_size[0])
        self.use_peepholes = bool(use_peepholes)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.state_size = -1  # spatial states; see get_initial_state
        self.spatial_dims = None

    def build(self, inputs_shape, states_shape=None):
        h, w, c_in = inputs_shape[1], inputs_shape[2], inputs_shape[3]
        if h is None or w is None or c_in is None:
            raise ValueError(
                f"{self.name}: PeepholeConvLSTM2D needs static height, width and channels "
                f"(its peepholes have the shape of the state); got input shape {inputs_shape}"
            )
        self.spatial_dims = (int(h), int(w))
        self.input_dim = int(c_in)
        k, f = self.kernel_size, self.filters
        self.kernel = self.add_weight(
            shape=(k, k, self.input_dim, 4 * f), initializer=self.kernel_initializer, name="kernel"
        )
        self.recurrent_kernel = self.add_weight(
            shape=(k, k, f, 4 * f), initializer=self.recurrent_initializer, name="recurrent_kernel"
        )
        if self.unit_forget_bias:

            def bias_init(shape, dtype=None):
                return ops.concatenate([ops.zeros((f,), dtype), ops.ones((f,), dtype), ops.zeros((2 * f,), dtype)])

        else:
            bias_init = "zeros"
        self.bias = self.add_weight(shape=(4 * f,), initializer=bias_init, name="bias")
        if self.use_peepholes:
            shape = (int(h), int(w), f)
            self.peephole_i = self.add_weight(shape=shape, initializer="zeros", name="peephole_i")
            self.peephole_f = self.add_weight(shape=shape, initializer="zeros", name="peephole_f")
            self.peephole_o = self.add_weight(shape=shape, initializer="zeros", name="peephole_o")

    def call(self, inputs, states, training=False):
        h_prev, c_prev = states[0], states[1]
        z = ops.conv(inputs, self.kernel, padding="same") + ops.conv(h_prev, self.recurrent_kernel, padding="same")
        z = z + self.bias
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        if self.use_peepholes:
            z_i = z_i + self.peephole_i * c_prev
            z_f = z_f + self.peephole_f * c_prev
        i = ops.sigmoid(z_i)
        f = ops.sigmoid(z_f)
        c = f * c_prev + i * ops.tanh(z_c)
        if self.use_peepholes:
            z_o = z_o + self.peephole_o * c
        o = ops.sigmoid(z_o)
        h = o * ops.tanh(c)
        return h, [h, c]

    def compute_output_shape(self, inputs_shape, states_shape=None):
        out = tuple(inputs_shape[:-1]) + (self.filters,)
        return out, [out, out]

    def get_initial_state(self, batch_size=None):
        shape = (batch_size,) + tuple(self.spatial_dims) + (self.filters,)
        return [ops.zeros(shape, dtype=self.compute_dtype), ops.zeros(shape, dtype=self.compute_dtype)]

    def cell_config(self) -> dict:
        """The constructor arguments of the cell (the layer that wraps it shares them)."""
        return dict(
            filters=self.filters,
            kernel_size=self.kernel_size,
            use_peepholes=self.use_peepholes,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            recurrent_initializer=keras.initializers.serialize(self.recurrent_initializer),
            unit_forget_bias=self.unit_forget_bias,
        )

    def get_config(self):
        config = super().get_config()
        config.update(self.cell_config())
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class PeepholeConvLSTM2D(keras.layers.RNN):
    """A sequence layer over :class:`PeepholeConvLSTM2DCell` (Eq. 1).

    Input (B, T, H, W, C); output (B, T, H, W, F) with ``return_sequences=True``, else
    (B, H, W, F); with ``return_state=True`` also the final ``h`` and ``c``. Accepts
    ``initial_state=[h, c]``, each (B, H, W, F) — the local model passes M-CNN's output here
    (Sec. 3.2).

    Args:
        filters, kernel_size, use_peepholes, kernel_initializer, recurrent_initializer,
            unit_forget_bias: those of :class:`PeepholeConvLSTM2DCell`.
        return_sequences: output every step (True) or the last (False).
        return_state: also return the final ``h`` and ``c``.
    """

    def __init__(
        self,
        filters,
        kernel_size=3,
        use_peepholes=True,
        return_sequences=False,
        return_state=False,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        unit_forget_bias=True,
        **kwargs,
    ):
        cell_kwargs = {}
        if "dtype" in kwargs:
            cell_kwargs["dtype"] = kwargs["dtype"]
        cell = PeepholeConvLSTM2DCell(
            filters,
            kernel_size,
            use_peepholes=use_peepholes,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            unit_forget_bias=unit_forget_bias,
            name="cell",
            **cell_kwargs,
        )
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state, **kwargs)
        self.filters = int(filters)

    def build(self, sequences_shape, initial_state_shape=None):
        if len(sequences_shape) != 5:
            raise ValueError(
                f"{self.name}: expected input (batch, time, height, width, channels), got {sequences_shape}"
            )
        super().build(sequences_shape, initial_state_shape)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if initial_state is not None:
            self._check_initial_state(sequences, initial_state)
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training)

    def _check_initial_state(self, sequences, initial_state):
        if not isinstance(initial_state, (list, tuple)) or len(initial_state) != 2:
            raise ValueError(f"{self.name}: initial_state must be [h, c], got {type(initial_state).__name__}")
        expected = (sequences.shape[2], sequences.shape[3], self.filters)
        for label, s in zip("hc", initial_state):
            got = tuple(s.shape[1:])
            if len(got) != 3 or any(e is not None and g is not None and e != g for e, g in zip(expected, got)):
                raise ValueError(
                    f"{self.name}: initial state {label} has shape {tuple(s.shape)}; "
                    f"expected (batch, {expected[0]}, {expected[1]}, {expected[2]})"
                )

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch, steps = sequences_shape[0], sequences_shape[1]
        state = (batch, sequences_shape[2], sequences_shape[3], self.filters)
        out = (batch, steps) + state[1:] if self.return_sequences else state
        if self.return_state:
            return out, state, state
        return out

    def compute_mask(self, _, mask):
        return None

    def get_config(self):
        config = super().get_config()
        config.pop("cell", None)
        config.update(self.cell.cell_config())
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
