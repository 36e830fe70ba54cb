"""Eq. 1 (peephole ConvLSTM), the anchor transformer of Sec. 4 and the ROI geometry."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from pixtrack_tf.layers import AnchorTransformer, PeepholeConvLSTM2D
from pixtrack_tf.ops import roi


def _conv_same(x, w):
    """NumPy 'same' 2-D convolution (cross-correlation, like Keras): x (B,H,W,C), w (k,k,C,F)."""
    k = w.shape[0]
    p = k // 2
    b, h, wd, c = x.shape
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    out = np.zeros((b, h, wd, w.shape[-1]))
    for dy in range(k):
        for dx in range(k):
            out += np.einsum("bhwc,cf->bhwf", xp[:, dy : dy + h, dx : dx + wd, :], w[dy, dx])
    return out


def _sig(x):
    return 1 / (1 + np.exp(-x))


def eq1_reference(xs, h, c, kernel, rkernel, bias, wci, wcf, wco):
    """Eq. 1 written out in NumPy; gates i, f, c, o along the last axis."""
    f = h.shape[-1]
    outs = []
    for t in range(xs.shape[1]):
        z = _conv_same(xs[:, t], kernel) + _conv_same(h, rkernel) + bias
        zi, zf, zc, zo = (z[..., j * f : (j + 1) * f] for j in range(4))
        i = _sig(zi + wci * c)
        fg = _sig(zf + wcf * c)
        c = fg * c + i * np.tanh(zc)
        o = _sig(zo + wco * c)
        h = o * np.tanh(c)
        outs.append(h)
    return np.stack(outs, 1), h, c


def _random_layer(rng, filters=3, c_in=2, hw=(5, 6), peepholes=True, **kw):
    layer = PeepholeConvLSTM2D(filters, 3, use_peepholes=peepholes, return_sequences=True, return_state=True, **kw)
    layer.build((None, 4) + hw + (c_in,))
    for w in layer.weights:
        w.assign(rng.normal(0, 0.5, w.shape).astype("float32"))
    return layer


def test_eq1_matches_numpy_reference():
    rng = np.random.default_rng(0)
    layer = _random_layer(rng)
    xs = rng.normal(size=(2, 4, 5, 6, 2)).astype("float32")
    h0 = rng.normal(size=(2, 5, 6, 3)).astype("float32")
    c0 = rng.normal(size=(2, 5, 6, 3)).astype("float32")
    seq, h, c = layer(xs, initial_state=[h0, c0])
    cell = layer.cell
    ref_seq, ref_h, ref_c = eq1_reference(
        xs,
        h0,
        c0,
        *(
            np.asarray(v)
            for v in (cell.kernel, cell.recurrent_kernel, cell.bias, cell.peephole_i, cell.peephole_f, cell.peephole_o)
        ),
    )
    np.testing.assert_allclose(seq, ref_seq, atol=1e-4)
    np.testing.assert_allclose(h, ref_h, atol=1e-4)
    np.testing.assert_allclose(c, ref_c, atol=1e-4)


def test_weight_names_and_shapes():
    layer = _random_layer(np.random.default_rng(1), filters=3, c_in=2, hw=(5, 6))
    shapes = {w.name: tuple(w.shape) for w in layer.weights}
    assert shapes == {
        "kernel": (3, 3, 2, 12),
        "recurrent_kernel": (3, 3, 3, 12),
        "bias": (12,),
        "peephole_i": (5, 6, 3),
        "peephole_f": (5, 6, 3),
        "peephole_o": (5, 6, 3),
    }


def test_zero_peepholes_reduce_to_plain_conv_lstm():
    rng = np.random.default_rng(2)
    layer = _random_layer(rng)
    for w in (layer.cell.peephole_i, layer.cell.peephole_f, layer.cell.peephole_o):
        w.assign(np.zeros(w.shape, "float32"))
    plain = keras.layers.ConvLSTM2D(3, 3, padding="same", return_sequences=True, return_state=True)
    plain.build((None, 4, 5, 6, 2))
    plain.cell.kernel.assign(layer.cell.kernel)
    plain.cell.recurrent_kernel.assign(layer.cell.recurrent_kernel)
    plain.cell.bias.assign(layer.cell.bias)
    xs = rng.normal(size=(2, 4, 5, 6, 2)).astype("float32")
    h0 = rng.normal(size=(2, 5, 6, 3)).astype("float32")
    c0 = rng.normal(size=(2, 5, 6, 3)).astype("float32")
    for a, b in zip(layer(xs, initial_state=[h0, c0]), plain(xs, initial_state=[h0, c0])):
        np.testing.assert_allclose(a, b, atol=1e-5)


def _shift_error(layer, rng):
    xs = np.zeros((1, 3, 12, 12, 2), "float32")
    xs[:, :, 3:6, 3:6, :] = rng.normal(size=(1, 3, 3, 3, 2))
    shifted = np.roll(xs, (2, 3), axis=(2, 3))
    a = layer(xs)[0].numpy()
    b = layer(shifted)[0].numpy()
    a_shift = np.roll(a, (2, 3), axis=(2, 3))
    return np.abs(a_shift - b)[:, :, 2:-2, 2:-2].max()  # ignore the zero-padded border


def test_shift_equivariance_only_without_peepholes():
    rng = np.random.default_rng(3)
    layer = _random_layer(rng, filters=2, c_in=2, hw=(12, 12))
    layer.cell.bias.assign(np.zeros(layer.cell.bias.shape, "float32"))  # keep the background at zero state
    with_peep = _shift_error(layer, rng)
    for w in (layer.cell.peephole_i, layer.cell.peephole_f, layer.cell.peephole_o):
        w.assign(np.zeros(w.shape, "float32"))
    without = _shift_error(layer, np.random.default_rng(3))
    assert without < 1e-5
    assert with_peep > 1e-3


def test_symbolic_shapes():
    inp = keras.Input((4, 5, 6, 2))
    out, h, c = PeepholeConvLSTM2D(3, return_sequences=True, return_state=True)(inp)
    assert tuple(out.shape) == (None, 4, 5, 6, 3) and tuple(h.shape) == (None, 5, 6, 3)
    assert tuple(PeepholeConvLSTM2D(3)(inp).shape) == (None, 5, 6, 3)


def test_keras_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    inp = keras.Input((4, 5, 6, 2))
    layer = PeepholeConvLSTM2D(3, return_sequences=True)
    model = keras.Model(inp, layer(inp))
    for w in model.weights:
        w.assign(rng.normal(0, 0.5, w.shape).astype("float32"))
    x = rng.normal(size=(2, 4, 5, 6, 2)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(model(x), loaded(x), atol=1e-6)


def test_wrong_initial_state_shape_is_refused():
    layer = PeepholeConvLSTM2D(3, return_sequences=True)
    x = np.zeros((1, 2, 5, 6, 2), "float32")
    with pytest.raises(ValueError, match=r"initial state h has shape \(1, 4, 6, 3\)"):
        layer(x, initial_state=[np.zeros((1, 4, 6, 3), "float32"), np.zeros((1, 5, 6, 3), "float32")])


def test_transformer_box_and_gradient():
    t = AnchorTransformer(map_size=64, anchor_size=(0.5, 0.5), softness=1.0)
    theta = tf.Variable([[1.0, 0.2, -0.1]])
    aspect = tf.constant([[16 / 9]])
    with tf.GradientTape() as tape:
        m = t(theta, aspect)
        loss = tf.reduce_sum(m * tf.random.stateless_uniform(m.shape, (1, 2)))
    g = tape.gradient(loss, theta).numpy()
    assert np.all(np.isfinite(g)) and np.abs(g).min() > 0
    m = m.numpy()[0, :, :, 0] > 0.5
    ys, xs = np.nonzero(m)
    # in frame pixels the box is square: width/W * aspect == height/H
    w_norm, h_norm = (xs.max() - xs.min() + 1) / 64, (ys.max() - ys.min() + 1) / 64
    assert abs(w_norm * 16 / 9 - h_norm) < 2 / 64
    assert abs(((xs.mean() + 0.5) / 32 - 1) - 0.2) < 1.5 / 64


def test_non_square_anchor_is_refused():
    with pytest.raises(ValueError, match="must be square"):
        AnchorTransformer(anchor_size=(0.5, 0.3))


def test_theta_box_round_trip():
    theta = tf.constant([[1.3, 0.1, -0.4], [0.4, -0.9, 0.9]])
    hw = tf.constant([480, 854])
    box = roi.theta_to_box(theta, hw, 0.5).numpy()
    np.testing.assert_allclose(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1], rtol=1e-5)  # square in pixels
    np.testing.assert_allclose(box[0, 2] - box[0, 0], 0.5 * 1.3 * 480, rtol=1e-5)
    np.testing.assert_allclose(roi.box_to_theta(box, hw, 0.5), theta, atol=1e-5)


def test_crop_paste_round_trip_and_outside_frame():
    rng = np.random.default_rng(5)
    frame = rng.uniform(size=(1, 40, 60, 1)).astype("float32")
    box = tf.constant([[10.0, 8.0, 34.0, 32.0]])  # 24 px square, inside
    crop = roi.crop_roi(frame, box, 24).numpy()
    np.testing.assert_allclose(crop[0], frame[0, 8:32, 10:34], atol=1e-5)  # 1:1 scale: exact pixels
    pasted = roi.paste_roi(crop, box, tf.constant([40, 60])).numpy()
    np.testing.assert_allclose(pasted[0, 8:32, 10:34], frame[0, 8:32, 10:34], atol=1e-5)
    outside = np.ones((40, 60), bool)
    outside[8:32, 10:34] = False
    assert np.all(pasted[0, ..., 0][outside] == 0)
    # an ROI partly outside the frame: outside reads zero, paste keeps only the frame
    box2 = tf.constant([[-12.0, -6.0, 12.0, 18.0]])
    crop2 = roi.crop_roi(frame, box2, 24).numpy()[0, ..., 0]
    assert np.all(crop2[:6, :] == 0) and np.all(crop2[:, :12] == 0)
    np.testing.assert_allclose(crop2[6:, 12:], frame[0, :18, :12, 0], atol=1e-5)
    pasted2 = roi.paste_roi(crop2[None, ..., None], box2, tf.constant([40, 60])).numpy()[0, ..., 0]
    np.testing.assert_allclose(pasted2[:18, :12], frame[0, :18, :12, 0], atol=1e-5)
    assert pasted2[18:].max() == 0 and pasted2[:, 12:].max() == 0


def test_crop_resize_scales():
    frame = np.zeros((1, 100, 100, 1), "float32")
    frame[0, 40:60, 40:60] = 1
    crop = roi.crop_roi(frame, tf.constant([[30.0, 30.0, 70.0, 70.0]]), 20).numpy()[0, ..., 0]
    assert crop[5:15, 5:15].min() > 0.99 and crop[:4].max() < 0.01  # the object fills the middle half


def test_roi_around_is_one_rule_for_numpy_and_tensors():
    import tensorflow as tf

    from pixtrack_tf.ops.roi import mask_box_tf, roi_around

    box = np.array([[10.0, 20.0, 60.0, 40.0], [0.0, 0.0, 500.0, 100.0], [5.0, 5.0, 9.0, 7.0]])
    expected = np.array([[-15, -20, 85, 80], [-86, -286, 586, 386], [-21, -22, 35, 34]], np.float32)
    np.testing.assert_allclose(roi_around(box, 2.0, 56, 672), expected)
    np.testing.assert_allclose(roi_around(tf.constant(box), 2.0, 56, 672).numpy(), expected)
    m = np.zeros((30, 40), bool)
    m[3:9, 5:25] = True
    b, found = mask_box_tf(tf.constant(m))
    np.testing.assert_allclose(b.numpy(), [5, 3, 25, 9])
    assert bool(found) and not bool(mask_box_tf(tf.zeros((4, 4), bool))[1])


def test_object_theta_inverts_the_anchor_render():
    """The theta of the square around an object renders (AnchorTransformer) a box that holds it."""
    from pixtrack_tf.layers.transformer import AnchorTransformer, object_theta

    S, aspect = 64, np.array([[16 / 9]], np.float32)
    z = np.zeros((1, S, S, 1), np.float32)
    z[0, 25:35, 20:40] = 1.0  # 20 map px wide = 20 * 16/9 frame rows' units, 10 tall: the side is the width
    theta, valid = object_theta(z, aspect, 0.5)
    theta = np.asarray(theta)
    assert bool(np.asarray(valid)[0])
    np.testing.assert_allclose(theta[0, 1:], [(2 * 30 / S) - 1, (2 * 30 / S) - 1], atol=1e-6)
    box = np.asarray(AnchorTransformer(S, (0.5, 0.5), softness=0.01)(theta, aspect))[0, ..., 0] > 0.5
    assert box[z[0, ..., 0] > 0].all()  # the object is inside
    assert abs(box.any(0).sum() - 20) <= 1 and abs(box.any(1).sum() - 20 * 16 / 9) <= 1  # square in frame pixels
    _, valid = object_theta(np.zeros((1, S, S, 1), np.float32), aspect, 0.5)
    assert not bool(np.asarray(valid)[0])


def test_bounded_theta_stays_in_its_box():
    from pixtrack_tf.models import GlobalModel

    gm = GlobalModel(
        map_size=32, conv_filters=(2, 2, 2, 2), lstm_filters=2, fc_units=4, scale_range=(0.1, 2.0), centre_range=1.0
    )
    gm.fc2.kernel.assign(np.full(gm.fc2.kernel.shape, 50.0, np.float32))  # huge raw outputs
    theta = np.asarray(gm({"maps": np.ones((2, 3, 32, 32, 1), np.float32), "aspect": np.ones((2, 1), np.float32)}))
    assert (
        np.all(theta[..., 0] <= 2.0 + 1e-5)
        and np.all(theta[..., 0] >= 0.1 - 1e-6)
        and np.all(np.abs(theta[..., 1:]) <= 1.0)
    )
