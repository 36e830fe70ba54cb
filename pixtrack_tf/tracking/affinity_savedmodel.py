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

One object; float32 arithmetic. :class:`PlusModule` is pixtrack+ the same way (the read refined by
its trained decoder, every feature from one pass of its backbone; with ``plus.mask_prior: previous``
the previous output is one more state, ``state_previous``): ``pixtrack export --run PLUS_RUN
--frame-size WxH``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import tensorflow as tf

from pixtrack_tf.config import ConfigError, save_config
from pixtrack_tf.ops.roi import mask_box_tf, roi_around
from pixtrack_tf.tracking.affinity import AffinityCore, _one_hot, feature_grid


class AffinityModule(tf.Module):
    """The SavedModel's root: the frozen backbone's variables and the two signatures."""

    def __init__(self, cfg, hw, name="pixtrack_affinity"):
        super().__init__(name=name)
        acfg = dataclasses.replace(cfg.affinity, precision="float32")
        self.cfg = dataclasses.replace(cfg, affinity=acfg)
        core = AffinityCore(acfg, self._core_weights(cfg))
        self._core = lambda: core  # a closure: the module tracks the variables, not the Python object
        self.backbone_variables = self._variables()
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
            **self._extra_specs(),
        }
        names = ", ".join(self.specs)
        namespace = {"_impl": self._step}
        exec(f"def step(frame, {names}):\n    return _impl(frame, [{names}])\n", namespace)  # named arguments
        sig = [frame, *(tf.TensorSpec(s.shape, s.dtype, k) for k, s in self.specs.items())]
        self.step = tf.function(namespace["step"], input_signature=sig)

    def _core_weights(self, cfg):
        return cfg.backbone.weights

    def _variables(self):
        return [w.value for w in self._core().backbone.weights]

    def _features(self, frame):
        """(the frame's memory keys (P, C), what :meth:`_output` needs beside the read)."""
        return self._core().features(frame, self.grid), None

    def _extra_specs(self) -> dict:
        """State a subclass keeps beside the memory (name -> TensorSpec)."""
        return {}

    def _extra_initial(self, mask) -> dict:
        """The initial values of :meth:`_extra_specs`'s state from the first mask (H, W) in [0, 1]."""
        return {}

    def _output(self, probs, extra, state):
        """(the object's probability (H, W) from the read ``probs`` (1, H, W), updated extra state)."""
        return probs[0], {}

    def _memory_labels(self, lab, prob):
        """The labels (P, 2) the frame's memory entry keeps: the read's own."""
        return lab

    def _box(self, prob, previous):
        d = self.cfg.data
        box, found = mask_box_tf(prob >= 0.5)
        return tf.where(found, roi_around(box, float(d.roi_context), float(d.roi_min), float(d.roi_max)), previous)

    def _initialize(self, frame, mask):
        m = tf.cast(mask > 127, tf.float32)
        f0, _ = self._features(frame)
        l0 = self._core().pool(_one_hot(m[None]), self.grid)
        empty = {k: tf.zeros(s.shape, s.dtype) for k, s in self.specs.items()}
        return {
            **empty,
            "state_first_feats": f0,
            "state_first_labels": l0,
            "state_box": self._box(m, empty["state_box"]),
            **self._extra_initial(m),
        }

    def _step(self, frame, state):
        core, acfg = self._core(), self.cfg.affinity
        named = dict(zip(self.specs, state))
        keys = ("first_feats", "first_labels", "recent_feats", "recent_labels", "recent_valid", "next", "box")
        f0, l0, feats, labels, valid, nxt, box = (named[f"state_{k}"] for k in keys)
        n = acfg.memory
        keys, labs = [feats[i] for i in range(n)], [labels[i] for i in range(n)]
        q, extra = self._features(frame)
        probs, lab = core.propagate_fn(q, tf.shape(frame)[:2], f0, l0, keys, labs, valid, self.grid)
        prob, extra_state = self._output(probs, extra, named)
        lab = self._memory_labels(lab, prob)
        if n > 0:  # the ring buffer: the oldest slot takes the new frame
            feats = tf.tensor_scatter_nd_update(feats, [[nxt]], q[None])
            labels = tf.tensor_scatter_nd_update(labels, [[nxt]], lab[None])
            valid = tf.tensor_scatter_nd_update(valid, [[nxt]], [True])
            nxt = (nxt + 1) % n
        box = self._box(prob, box)
        return {
            "mask": prob,
            "box": box,
            "state_first_feats": f0,
            "state_first_labels": l0,
            "state_recent_feats": feats,
            "state_recent_labels": labels,
            "state_recent_valid": valid,
            "state_next": nxt,
            "state_box": box,
            **extra_state,
        }


class PlusModule(AffinityModule):
    """pixtrack+'s SavedModel root: the read as :class:`AffinityModule`'s, every feature from one pass of
    the trained model's backbone, and the read refined by its decoder."""

    def __init__(self, cfg, model, hw):
        if cfg.plus.mask_prior == "flow":
            raise ConfigError(
                "a pixtrack+ model with plus.mask_prior 'flow' has no SavedModel export (the DIS flow that "
                "carries its previous mask is OpenCV's, not a TensorFlow op); track it with pixtrack track "
                "--model RUN (a model trained with a mask prior exports with plus.mask_prior: previous in its config)"
            )
        if cfg.plus.roi != "frame":
            raise ConfigError(
                f"a pixtrack+ SavedModel computes the whole frame; plus.roi is {cfg.plus.roi!r} (the box around "
                "the previous mask is the in-process tracker's, pixtrack track --model RUN): export with "
                "--set plus.roi=frame"
            )
        self._model = lambda: model
        super().__init__(cfg, hw, name="pixtrack_plus")

    def _core_weights(self, cfg):
        return "none"  # the core propagates only

    def _variables(self):
        return [w.value for w in self._model().weights]

    def _features(self, frame):
        from pixtrack_tf.tracking.plus import plus_features

        size = self._size()
        taps, q = plus_features(self._model(), self._core(), frame, size)
        return q, (taps, size, frame)

    def _size(self):
        from pixtrack_tf.tracking.plus import resized_size

        return resized_size(self.hw, self.cfg.affinity)

    def _extra_specs(self) -> dict:
        """With ``plus.mask_prior: previous``: the previous output at the resized frame's size."""
        if self.cfg.plus.mask_prior == "previous":
            return {"state_previous": tf.TensorSpec(self._size(), tf.float32)}
        return {}

    def _extra_initial(self, mask) -> dict:
        if self.cfg.plus.mask_prior == "previous":
            return {"state_previous": tf.image.resize(mask[..., None], self._size(), method="area")[..., 0]}
        return {}

    def _output(self, probs, extra, state):
        from pixtrack_tf.tracking.plus import upsample_output

        taps, size, frame = extra
        prior = tf.image.resize(probs[..., None], size)
        if "state_previous" in state:
            prior = tf.concat([prior, state["state_previous"][None, ..., None]], axis=-1)
        p = tf.sigmoid(tf.cast(self._model().decoder(taps, prior), tf.float32))
        extra_state = {"state_previous": tf.image.resize(p, size)[0, ..., 0]} if "state_previous" in state else {}
        return upsample_output(p, frame, self.cfg.plus)[0], extra_state

    def _memory_labels(self, lab, prob):
        """The read's own labels, or (``plus.memory: refined``) the refined probability, pooled, or
        (``gated``, ``pruned``) the read's own labels gated by it (tracking/plus.py :func:`gate_labels`)."""
        from pixtrack_tf.tracking.plus import GATED_MEMORY, gate_labels, memory_gate

        if self.cfg.plus.memory == "refined":
            return self._core().pool(_one_hot(prob[None]), self.grid)
        if self.cfg.plus.memory in GATED_MEMORY:
            return gate_labels(lab, memory_gate(prob[None], self.grid, self.cfg.plus.memory))
        return lab


def export_affinity(cfg, hw, out, model=None) -> Path:
    """Write the SavedModel for frames of size ``hw`` (H, W) to ``out``, with ``pixtrack_config.yaml``
    (the resolved config) and ``pixtrack_export.json`` (what it is): the feature-affinity reference,
    or pixtrack+ with its trained ``model``."""
    out = Path(out)
    module = AffinityModule(cfg, hw) if model is None else PlusModule(cfg, model, hw)
    tf.saved_model.save(module, str(out), signatures={"initialize": module.initialize, "step": module.step})
    save_config(module.cfg, out / "pixtrack_config.yaml")
    (out / "pixtrack_export.json").write_text(
        json.dumps(
            {
                "tracker": "feature affinity (reference; no trained layer)" if model is None else "pixtrack+",
                "frame_size": {"height": module.hw[0], "width": module.hw[1]},
                "objects": 1,
                "precision": "float32",
                "affinity": dataclasses.asdict(module.cfg.affinity),
            },
            indent=1,
        )
    )
    return out
