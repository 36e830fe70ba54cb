"""One test case for every Keras class of the package, in the keras-hub manner (``run_layer_test``):

1. config: ``get_config`` is JSON, and ``from_config(get_config())`` has the same config;
2. ``.keras`` save / load gives the same outputs (a layer is saved inside a functional model, a
   model as itself), with random non-zero weights so that a weight that was not saved shows;
3. a ``mixed_bfloat16`` build computes in bfloat16 in every sub-layer, keeps float32 weights and
   gives finite outputs close to float32's on average.
"""

from __future__ import annotations

import json

import keras
import numpy as np


def _randomize(obj, seed=0):
    rng = np.random.default_rng(seed)
    for w in obj.weights:
        w.assign(rng.normal(0, 0.1, w.shape).astype("float32"))


def _flat(x):
    return [np.asarray(keras.ops.convert_to_numpy(t), np.float32) for t in keras.tree.flatten(x)]


def _as_model(layer, args):
    """A layer inside a functional model with one input per (nested) call argument."""
    specs = keras.tree.map_structure(lambda a: keras.Input(batch_shape=a.shape, dtype=a.dtype), args)
    return keras.Model(keras.tree.flatten(specs), layer(*specs)), keras.tree.flatten(args)


def run_layer_test(cls, init_kwargs: dict, call_args: tuple, tmp_path, atol=1e-5, bf16_mean_atol=0.05):
    """The three checks above for ``cls(**init_kwargs)`` called as ``obj(*call_args)``."""
    obj = cls(**init_kwargs)
    config = obj.get_config()
    config = json.loads(json.dumps(config))  # 1. JSON
    again = cls.from_config(config)
    assert again.get_config() == config, f"{cls.__name__}: from_config(get_config()) changed the config"

    ref = obj(*call_args)  # builds a layer on first call
    _randomize(obj)
    ref = _flat(obj(*call_args))
    if isinstance(obj, keras.Model):  # 2. .keras round trip
        model, inputs = obj, None
    else:
        model, inputs = _as_model(obj, call_args)
    path = tmp_path / f"{cls.__name__}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    got = _flat(loaded(*call_args) if inputs is None else loaded(inputs))
    assert len(got) == len(ref)
    for a, b in zip(ref, got):
        np.testing.assert_allclose(a, b, atol=atol, err_msg=f"{cls.__name__}: .keras round trip changed the output")

    bf = cls(**init_kwargs, dtype="mixed_bfloat16")  # 3. the model's policy reaches every sub-layer
    bf(*call_args)
    bf.set_weights(obj.get_weights())
    layers = [bf] + list(bf._flatten_layers(include_self=False, recursive=True))
    wrong = [layer.name for layer in layers if layer.dtype_policy.name != "mixed_bfloat16"]
    assert not wrong, f"{cls.__name__}: sub-layers without the model's dtype policy: {wrong}"
    assert all(w.dtype == "float32" for w in bf.weights), f"{cls.__name__}: bfloat16 weights (must stay float32)"
    out = _flat(bf(*call_args))
    for a, b in zip(ref, out):
        assert np.isfinite(b).all()
        scale = max(1.0, float(np.abs(a).mean()))  # a saturated sigmoid may flip at a pixel: compare on average
        assert float(np.abs(a - b).mean()) < bf16_mean_atol * scale, f"{cls.__name__}: bfloat16 far from float32"
    return obj
