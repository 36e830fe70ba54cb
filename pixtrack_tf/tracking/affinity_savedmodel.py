"""The feature-affinity reference as a TensorFlow SavedModel for one frame size (the library part of
``pixtrack export --affinity --frame-size WxH``): it loads without this package and runs where
TensorFlow runs.

The state has fixed shapes once the frame size is fixed (the first frame's features and labels, the
N recent frames' feature maps and labels, which slots hold a frame, the next slot, the last box), so
the export is for one frame size; a video of another size needs another export (the signatures
refuse it). Two signatures, the same as the two-stage tracker's (:mod:`pixtrack_tf.tracking.savedmodel`,
whose :class:`~pixtrack_tf.tracking.savedmodel.SavedModelTracker` runs either)::

    initialize(frame: uint8[H, W, 3], mask: uint8[H, W]) -> {"state_...": tensors}
    step(frame: uint8[H, W, 3], state_...) -> {"mask": float32[H, W], "box": float32[4], "state_...": ...}

One object; float32 arithmetic.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import tensorflow as tf

from pixtrack_tf.config import save_config
from pixtrack_tf.ops.roi import mask_box_tf, roi_around
from pixtrack_tf.tracking.affinity import AffinityCore, feature_grid


class AffinityModule(tf.Module):
    """The SavedModel's root: the frozen backbone's variables and the two signatures."""

    def __init__(self, cfg, hw):
        super().__init__(name="pixtrack_affinity")
        acfg = dataclasses.replace(cfg.affinity, precision="float32")
        self.cfg = dataclasses.replace(cfg, affinity=acfg)
        core = AffinityCore(acfg, cfg.backbone.weights)
        self._core = lambda: core  # a closure: the module tracks the variables, not the Python object
        self.backbone_variables = [w.value for w in core.backbone.weights]
        self.hw = tuple(int(v) for v in hw)
        self.grid = feature_grid(self.hw, acfg)
        H, W = self.hw
        P, N = self.grid[0] * self.grid[1], max(acfg.memory, 1)
        C = core.backbone.convs[[c.name for c in core.backbone.convs].index(acfg.layer)].filters
        frame = tf.TensorSpec((H, W, 3), tf.uint8, name="frame")
        mask = tf.TensorSpec((H, W), tf.uint8, name="mask")
        self.initialize = tf.function(self._initialize, input_signature=[frame, mask])
        self.specs = {
            "state_first_feats": tf.TensorSpec((P, C), tf.float32),
            "state_first_labels": tf.TensorSpec((P, 2), tf.float32),
            "state_recent_feats": tf.TensorSpec((N, P, C), tf.float32),
            "state_recent_labels": tf.TensorSpec((N, P, 2), tf.float32),
            "state_recent_valid": tf.TensorSpec((N,), tf.bool),
            "state_next": tf.TensorSpec((), tf.int32),
            "state_box": tf.TensorSpec((4,), tf.float32),
        }
        names = ", ".join(self.specs)
        namespace = {"_impl": self._step}
        exec(f"def step(frame, {names}):\n    return _impl(frame, [{names}])\n", namespace)  # named arguments
        sig = [frame, *(tf.TensorSpec(s.shape, s.dtype, k) for k, s in self.specs.items())]
        self.step = tf.function(namespace["step"], input_signature=sig)

    def _box(self, prob, previous):
        d = self.cfg.data
        box, found = mask_box_tf(prob >= 0.5)
        return tf.where(found, roi_around(box, float(d.roi_context), float(d.roi_min), float(d.roi_max)), previous)

    def _initialize(self, frame, mask):
        m = tf.cast(mask > 127, tf.float32)
        f0, l0 = self._core().init_fn(frame, m[None], self.grid)
        empty = {k: tf.zeros(s.shape, s.dtype) for k, s in self.specs.items()}
        return {
            **empty,
            "state_first_feats": f0,
            "state_first_labels": l0,
            "state_box": self._box(m, empty["state_box"]),
        }

    def _step(self, frame, state):
        core, acfg = self._core(), self.cfg.affinity
        lay = core.layout(self.grid)
        f0, l0, feats, labels, valid, nxt, box = state
        n = acfg.memory
        keys = [lay.gather(feats[i], lay.window_idx) for i in range(n)]
        labs = [lay.gather(labels[i], lay.window_idx) for i in range(n)]
        q = core.features(frame, self.grid)
        probs, lab = core.propagate_fn(q, tf.shape(frame)[:2], f0, l0, keys, labs, valid, self.grid)
        if n > 0:  # the ring buffer: the oldest slot takes the new frame
            feats = tf.tensor_scatter_nd_update(feats, [[nxt]], q[None])
            labels = tf.tensor_scatter_nd_update(labels, [[nxt]], lab[None])
            valid = tf.tensor_scatter_nd_update(valid, [[nxt]], [True])
            nxt = (nxt + 1) % n
        box = self._box(probs[0], box)
        return {
            "mask": probs[0],
            "box": box,
            "state_first_feats": f0,
            "state_first_labels": l0,
            "state_recent_feats": feats,
            "state_recent_labels": labels,
            "state_recent_valid": valid,
            "state_next": nxt,
            "state_box": box,
        }


def export_affinity(cfg, hw, out) -> Path:
    """Write the SavedModel for frames of size ``hw`` (H, W) to ``out``, with ``pixtrack_config.yaml``
    (the resolved config) and ``pixtrack_export.json`` (what it is)."""
    out = Path(out)
    module = AffinityModule(cfg, hw)
    tf.saved_model.save(module, str(out), signatures={"initialize": module.initialize, "step": module.step})
    save_config(module.cfg, out / "pixtrack_config.yaml")
    (out / "pixtrack_export.json").write_text(
        json.dumps(
            {
                "tracker": "feature affinity (reference; no trained layer)",
                "frame_size": {"height": module.hw[0], "width": module.hw[1]},
                "objects": 1,
                "precision": "float32",
                "affinity": dataclasses.asdict(module.cfg.affinity),
            },
            indent=1,
        )
    )
    return out
