"""pixtrack+'s boundary-weighted cross-entropy (selection/RULE.md round 20; not the paper):
``plus.boundary_weight`` w weights each pixel's BCE by 1 + w within ``plus.boundary_band`` pixels of the
truth's boundary, over the crop's mean weight; 0 (the dataclass default) is the mean BCE as before;
configs/plus.yaml sets 4 since round 22."""

import numpy as np
import pytest

from pixtrack_tf.config import ConfigError, load_config


def test_boundary_weights_by_hand():
    from pixtrack_tf.models.losses import boundary_weights

    y = np.zeros((2, 8, 8, 1), np.float32)
    y[0, 3:5, 3:5] = 1.0  # a 2 x 2 square: band 1 is the 4 x 4 square around it (dilated 3x3, eroded to nothing)
    w = np.asarray(boundary_weights(y, band=1, weight=4.0))[..., 0]
    band = np.zeros((8, 8), bool)
    band[2:6, 2:6] = True
    raw = np.where(band, 5.0, 1.0)
    np.testing.assert_allclose(w[0], raw / raw.mean(), rtol=1e-6)
    np.testing.assert_allclose(w[1], np.ones((8, 8)), rtol=1e-6)  # no object, no boundary: the plain mean
    assert np.asarray(w).mean(axis=(1, 2)) == pytest.approx([1.0, 1.0])


def test_the_plus_task_weights_its_cross_entropy():
    import tensorflow as tf

    from pixtrack_tf.models.losses import boundary_weights
    from pixtrack_tf.training.plus import PlusTask

    with pytest.raises(ConfigError, match="plus.boundary_weight"):
        load_config("plus", ["plus.boundary_weight=-1"])
    with pytest.raises(ConfigError, match="plus.boundary_band"):
        load_config("plus", ["plus.boundary_band=0"])
    from pixtrack_tf.config.plus_section import PlusConfig

    assert PlusConfig().boundary_weight == 0.0 and load_config("plus").plus.boundary_weight == 4.0  # round 22
    rng = np.random.default_rng(0)
    gt = np.zeros((2, 32, 32, 1), np.float32)
    gt[:, 8:20, 10:24] = 1.0
    batch = {
        "frame": tf.constant(rng.uniform(0, 255, (2, 32, 32, 3)), tf.float32),
        "prior": tf.constant(rng.uniform(0, 1, (2, 32, 32, 1)), tf.float32),
        "gt": tf.constant(gt),
    }
    for w in (0, 4):  # each model's loss against its own logits: plain mean BCE at 0, weighted at 4
        task = PlusTask(load_config("tiny", ["plus.crop=32", "plus.loss=bce", f"plus.boundary_weight={w}"]), [], {})
        loss, extras = task.per_example_loss(task.build_model(), batch, training=False)
        bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=batch["gt"], logits=extras["logits"])
        plain = np.asarray(tf.reduce_mean(bce, [1, 2, 3]))
        if w == 0:
            np.testing.assert_allclose(np.asarray(loss), plain, rtol=1e-5)
            continue
        weighted = tf.reduce_mean(bce * boundary_weights(batch["gt"], 3, 4.0), [1, 2, 3])
        np.testing.assert_allclose(np.asarray(loss), np.asarray(weighted), rtol=1e-5)
        assert not np.allclose(np.asarray(loss), plain, rtol=1e-3)
