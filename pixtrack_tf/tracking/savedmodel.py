"""Export the two-stage tracker (Algorithm 1) as a TensorFlow SavedModel that loads without this
package (the library part of ``pixtrack export --run DIR --out PATH``).

Two signatures, for frames of any height and width::

    initialize(frame: uint8[H, W, 3], mask: uint8[H, W]) -> {"state_...": tensors}
    step(frame: uint8[H, W, 3], state_...) -> {"mask": float32[H, W], "box": float32[4], "state_...": ...}

Use::

    m = tf.saved_model.load(PATH)
    state = m.signatures["initialize"](frame=f0, mask=m0)
    for f in frames:
        out = m.signatures["step"](frame=f, **{k: v for k, v in out_or_state.items() if k.startswith("state_")})

``--weights-dtype float16`` stores the weights in half precision (half the size) and ``int8`` the
kernels as symmetric per-output-channel int8 with float32 scales, the rest in float16 (a quarter of
the size); the computation stays float32 either way.
``PATH/pixtrack_config.yaml`` holds the resolved config.

The SavedModel's weights are fixed: it does not fine-tune the local model on the first frame
(``track.local_finetune_steps``, not in the paper). A run that does is exported as the paper's
tracker (memory from M-CNN only); its config is saved with ``local_finetune_steps: 0`` and
``pixtrack_export.json`` says what was left out, so the file describes what the SavedModel computes.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import tensorflow as tf

from pixtrack_tf.config import save_config
from pixtrack_tf.data.sequence import DataError
from pixtrack_tf.tracking.algorithm1 import two_stage_init, two_stage_step
from pixtrack_tf.tracking.common import TrackResult, initial_box, state_specs

STATE_NAMES = (
    ["state_theta", "state_map", "state_aspect"]
    + [f"state_global_{k}" for k in ("h1", "c1", "h2", "c2")]
    + [f"state_local_{k}" for k in ("h1", "c1", "h2", "c2")]
    + ["state_t"]
)


class TwoStageModule(tf.Module):
    """The SavedModel's root: copies of the weights (float32, float16 or int8 + scales) and the two signatures."""

    def __init__(self, cfg, lm, gm, weights_dtype="float32"):
        super().__init__(name="pixtrack_two_stage")
        if weights_dtype not in ("float32", "float16", "int8"):
            raise ValueError(f"weights_dtype must be float32, float16 or int8, got {weights_dtype!r}")
        self.cfg = cfg
        self._models = lambda: (lm, gm)  # a closure: the SavedModel must not track the float32 originals
        keras_vars = list(lm.weights) + list(gm.weights)
        self.weights_store, readers = [], []
        for i, v in enumerate(keras_vars):
            w = tf.convert_to_tensor(v.value, tf.float32)
            if weights_dtype == "int8" and w.shape.rank >= 2:
                # symmetric per-output-channel int8: w ~ q * scale
                scale = tf.maximum(tf.reduce_max(tf.abs(w), axis=list(range(w.shape.rank - 1))), 1e-12) / 127.0
                q = tf.Variable(tf.cast(tf.round(w / scale), tf.int8), trainable=False, name=f"w{i:03d}_q")
                sc = tf.Variable(scale, trainable=False, name=f"w{i:03d}_scale")
                self.weights_store += [q, sc]
                readers.append((v, (lambda q, sc: lambda: tf.cast(q, tf.float32) * sc)(q, sc)))
            else:
                dtype = tf.float32 if weights_dtype == "float32" else tf.float16
                var = tf.Variable(tf.cast(w, dtype), trainable=False, name=f"w{i:03d}")
                self.weights_store.append(var)
                readers.append((v, (lambda var: lambda: tf.cast(var, tf.float32))(var)))
        self._readers = lambda: readers  # a closure: the SavedModel must not track the float32 originals
        M = cfg.global_.map_size
        gspec, lspec = state_specs(cfg)
        self.state_specs = [
            tf.TensorSpec((3,), tf.float32),
            tf.TensorSpec((M, M, 1), tf.float32),
            tf.TensorSpec((), tf.float32),
        ]
        self.state_specs += [gspec] * 4 + [lspec] * 4 + [tf.TensorSpec((), tf.float32)]
        frame = tf.TensorSpec((None, None, 3), tf.uint8, name="frame")
        self.initialize = tf.function(
            self._initialize, input_signature=[frame, tf.TensorSpec((None, None), tf.uint8, name="mask")]
        )
        named = [tf.TensorSpec(s.shape, s.dtype, name=n) for s, n in zip(self.state_specs, STATE_NAMES)]
        self.step = tf.function(self._make_step(), input_signature=[frame] + named)

    def _scope(self):
        return keras.StatelessScope(state_mapping=[(k, tf.cast(read(), k.dtype)) for k, read in self._readers()])

    def _initialize(self, frame, mask):
        with self._scope():
            lm, gm = self._models()
            theta, zmap, aspect, lstates = two_stage_init(lm, self.cfg, frame, mask > 0)
            gstates = gm.initial_states(1)
        return _float32(dict(zip(STATE_NAMES, [theta, zmap, aspect, *gstates, *lstates, tf.constant(0.0)])))

    def _make_step(self):
        # a function with one named argument per state, so that the signature's inputs carry names
        args = ", ".join(STATE_NAMES)
        src = f"def step(frame, {args}):\n    return _impl(frame, [{args}])\n"
        ns = {"_impl": self._step_impl}
        exec(src, ns)  # noqa: S102 - builds a fixed, trusted signature
        return ns["step"]

    def _step_impl(self, frame, states):
        theta, zmap, aspect = states[0], states[1], states[2]
        gstates, lstates, t = list(states[3:7]), list(states[7:11]), states[11] + 1.0
        lm, gm = self._models()
        with self._scope():
            full, box, theta, zmap, gstates, lstates = two_stage_step(
                lm, gm, self.cfg, frame, zmap, aspect, theta, gstates, lstates, t
            )
        states = dict(zip(STATE_NAMES, [theta, zmap, aspect, *gstates, *lstates, t]))
        return _float32({"mask": full, "box": box, **states})


def _float32(outputs: dict) -> dict:
    """The signatures' outputs in float32 whatever the models compute in (a bfloat16 export's states
    are carried between calls as float32, the type the signatures declare)."""
    return {k: tf.cast(v, tf.float32) for k, v in outputs.items()}


def export_two_stage(cfg, lm, gm, out, weights_dtype="float32") -> Path:
    """Write the SavedModel; returns its folder. See the module's docstring for what it leaves out."""
    from dataclasses import replace

    out = Path(out)
    left_out = []
    if cfg.track.local_finetune_steps > 0:
        left_out.append(
            f"the local model's first-frame fine-tuning (track.local_finetune_steps = "
            f"{cfg.track.local_finetune_steps} in the run): the SavedModel tracks with the trained weights"
        )
        cfg = replace(cfg, track=replace(cfg.track, local_finetune_steps=0))
    module = TwoStageModule(cfg, lm, gm, weights_dtype)
    tf.saved_model.save(
        module,
        str(out),
        signatures={
            "initialize": module.initialize.get_concrete_function(),
            "step": module.step.get_concrete_function(),
        },
    )
    save_config(cfg, out / "pixtrack_config.yaml")
    (out / "pixtrack_export.json").write_text(
        json.dumps(
            {
                "weights_dtype": weights_dtype,
                "precision": cfg.track.precision,
                "state_names": STATE_NAMES,
                "left_out": left_out,
            },
            indent=1,
        )
    )
    return out


class SavedModelTracker:
    """``init``/``track`` over an exported SavedModel (the same API as the in-process trackers)."""

    def __init__(self, path):
        self.path = Path(path)
        self.model = tf.saved_model.load(str(self.path))
        self._init = self.model.signatures["initialize"]
        self._step = self.model.signatures["step"]
        self.state = None

    def init(self, frame, mask):
        import numpy as np

        from pixtrack_tf.config import load_config

        mask = np.asarray(mask).astype(bool)
        export = self.path / "pixtrack_export.json"
        size = json.loads(export.read_text()).get("frame_size") if export.exists() else None
        if size and tuple(np.shape(frame)[:2]) != (size["height"], size["width"]):
            raise DataError(
                f"{self.path}: this SavedModel was exported for {size['width']}x{size['height']} frames, the video's "
                f"are {np.shape(frame)[1]}x{np.shape(frame)[0]} (export it again with --frame-size)"
            )
        d = load_config(self.path / "pixtrack_config.yaml").data
        box0 = initial_box(mask, d.roi_context, d.roi_min, d.roi_max)  # also refuses an empty mask
        self.state = self._init(frame=tf.constant(frame, tf.uint8), mask=tf.constant(mask.astype(np.uint8) * 255))
        return TrackResult(mask.astype(np.float32), box0)

    def track(self, frame):
        out = self._step(
            frame=tf.constant(frame, tf.uint8), **{k: v for k, v in self.state.items() if k.startswith("state_")}
        )
        self.state = out
        return TrackResult(out["mask"].numpy(), out["box"].numpy())
