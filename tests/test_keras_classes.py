"""Every class registered for Keras serialisation under the package goes through ``run_layer_test``
(tests/keras_case.py) at tiny shapes; a newly registered class without a case here fails."""

import keras
import numpy as np
import pytest
from keras_case import run_layer_test

from pixtrack_tf.layers import AnchorTransformer, MaskDecoder, PeepholeConvLSTM2D, PeepholeConvLSTM2DCell
from pixtrack_tf.layers.convlstm import PACKAGE
from pixtrack_tf.models import FCNModel, GlobalModel, LocalModel, VGGPool4
from pixtrack_tf.models.plus import PlusDecoder, PlusModel

rng = np.random.default_rng(0)


def _f(*shape, high=1.0):
    return rng.uniform(0, high, shape).astype("float32")


TINY_LOCAL = dict(
    roi_size=32,
    fcnn_filters=8,
    mcnn_filters=16,
    lstm_filters=4,
    deconv_filters=(8, 4, 4),
    backbone_weights="none",
    feature_scale=0.18,
)
CASES = {
    "PeepholeConvLSTM2DCell": (
        PeepholeConvLSTM2DCell,
        dict(filters=3),
        (_f(2, 4, 5, 2), [_f(2, 4, 5, 3), _f(2, 4, 5, 3)]),
    ),
    "PeepholeConvLSTM2D": (PeepholeConvLSTM2D, dict(filters=3, return_sequences=True), (_f(2, 3, 4, 5, 2),)),
    "AnchorTransformer": (
        AnchorTransformer,
        dict(map_size=16),
        (np.array([[1.0, 0.1, -0.2]], "float32"), np.array([[1.5]], "float32")),
    ),
    "MaskDecoder": (MaskDecoder, dict(filters=(4, 4, 2)), (_f(2, 2, 2, 6),)),
    "VGGPool4": (VGGPool4, dict(weights="none", output_scale=0.18), (_f(1, 32, 32, 3, high=255.0),)),
    "LocalModel": (
        LocalModel,
        TINY_LOCAL,
        (
            {
                "first_image": _f(1, 32, 32, 3, high=255.0),
                "first_mask": _f(1, 32, 32, 1),
                "images": _f(1, 2, 32, 32, 3, high=255.0),
            },
        ),
    ),
    "GlobalModel": (
        GlobalModel,
        dict(
            map_size=32,
            conv_filters=(2, 2, 4, 4),
            lstm_filters=4,
            fc_units=16,
            feature_norm=True,
            centre_from="map_centroid",
            centre_offset=0.4,
        ),
        ({"maps": _f(1, 3, 32, 32, 1), "aspect": np.array([[1.5]], "float32")},),
    ),
    "FCNModel": (
        FCNModel,
        dict(roi_size=32, fcnn_filters=8, deconv_filters=(8, 4, 4), backbone_weights="none", feature_scale=0.18),
        (_f(2, 32, 32, 3, high=255.0),),
    ),
    "PlusDecoder": (
        PlusDecoder,
        dict(skips=("block2_conv2", "block3_conv3"), width=4, context=2),
        (
            {"block4_conv3": _f(1, 2, 3, 512), "block3_conv3": _f(1, 4, 6, 256), "block2_conv2": _f(1, 8, 12, 128)},
            _f(1, 16, 24, 1),
        ),
    ),
    "PlusModel": (PlusModel, dict(width=4, backbone_weights="none"), (_f(1, 16, 24, 3, high=255.0), _f(1, 16, 24, 1))),
}


def test_every_registered_class_has_a_case():
    registered = {k.split(">", 1)[1] for k in keras.saving.get_custom_objects() if k.startswith(f"{PACKAGE}>")}
    assert registered == set(CASES), (
        f"registered without a case: {registered - set(CASES)}; cases of unregistered: {set(CASES) - registered}"
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_case(name, tmp_path):
    cls, kwargs, args = CASES[name]
    run_layer_test(cls, kwargs, args, tmp_path)


def test_loaded_model_keeps_its_backbone_setting_without_reading_it(tmp_path):
    """A model's config names where its backbone weights came from; loading it reads them from the
    saved file, not from that source (which may be absent where it is loaded)."""
    from pixtrack_tf.models.backbone import WeightsError

    config = dict(LocalModel(**TINY_LOCAL).get_config(), backbone_weights=str(tmp_path / "absent.weights.h5"))
    with pytest.raises(WeightsError, match="absent.weights.h5"):
        LocalModel(**{k: v for k, v in config.items() if k in TINY_LOCAL})  # building from it reads it
    again = LocalModel.from_config(config)  # loading does not
    assert again.get_config() == config
