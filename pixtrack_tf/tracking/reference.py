"""Reference trackers that need no training: the floors every trained tracker is read against.

Not methods of the paper. A trained tracker is only worth something if it beats what needs no
training, so ``reproduce`` and ``pixtrack track`` offer these beside the paper's methods:

* :class:`FirstMaskTracker` - the first frame's mask, copied to every frame (the score of a tracker
  that does nothing; on footage where the object barely moves it is not low).
* :class:`OpticalFlowTracker` - mask propagation by dense optical flow: the flow from the current
  frame to the previous one (OpenCV's DIS, ``medium`` preset) carries the previous mask into the
  current frame by a backward warp (bilinear), thresholded at 0.5. No model, no learning.
* :class:`~pixtrack_tf.tracking.affinity.AffinityTracker` - label propagation by feature affinity
  over the frozen VGG16 that the local model reads (``affinity``; :mod:`pixtrack_tf.tracking.affinity`):
  what the backbone alone knows of the object, with no trained layer. Its probabilities are soft.

All three have the API of the other trackers (``init(frame, mask)``, then ``track(frame)`` returning a
:class:`~pixtrack_tf.tracking.trackers.TrackResult`). Their ``box`` is the square ROI that the
Sec. 3.3 rule puts around the current mask (:func:`pixtrack_tf.tracking.roi_rule.object_roi`), so
that the ROI measures of the evaluator mean the same for every method; when the mask is empty (the
object left the frame) the previous box is kept. The first two give binary probabilities (0 or 1),
so every threshold of Tables 2 and 3 reads the same mask.
"""

from __future__ import annotations

import numpy as np

from pixtrack_tf.config import DataConfig
from pixtrack_tf.data.sequence import mask_box
from pixtrack_tf.ops.roi import roi_around
from pixtrack_tf.tracking.affinity import AffinityTracker
from pixtrack_tf.tracking.common import TrackResult, check_first, check_frame

FLOW_PRESETS = ("ultrafast", "fast", "medium")


class _ReferenceTracker:
    """Shared bookkeeping: the first frame's checks, and the ROI of the current mask."""

    def __init__(self, cfg=None):
        d = DataConfig() if cfg is None else cfg.data
        self.context, self.lo, self.hi = float(d.roi_context), float(d.roi_min), float(d.roi_max)
        self.hw = None

    def init(self, frame, mask):
        frame, mask = check_first(frame, mask)
        self.hw = frame.shape[:2]
        self.box = roi_around(mask_box(mask), self.context, self.lo, self.hi)
        self._init(frame, mask)
        return TrackResult(mask.astype(np.float32), self.box.copy())

    def track(self, frame) -> TrackResult:
        if self.hw is None:
            raise RuntimeError("call init(frame, mask) first")
        mask = self._track(check_frame(frame, self.hw))
        b = mask_box(mask)
        if b is not None:
            self.box = roi_around(b, self.context, self.lo, self.hi)
        return TrackResult(mask.astype(np.float32), self.box.copy())


class FirstMaskTracker(_ReferenceTracker):
    """Reference: the first frame's mask for every frame."""

    name = "first-mask"

    def _init(self, frame, mask):
        self.mask = mask.copy()

    def _track(self, frame):
        return self.mask


def pixel_grid(h: int, w: int):
    """(h, w, 2) float32 x, y coordinates of every pixel (what a flow field is added to)."""
    return np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), axis=-1)


def carry_by_flow(flow, cur, prev, grid, masks):
    """Masks (float32 (h, w) each, soft or hard) of the grey frame ``prev`` carried into the grey frame
    ``cur`` by the DIS ``flow`` engine: mask_t(x) = bilinear(mask_{t-1})(x + F(x)), F the flow from
    ``cur`` to ``prev`` (pixels that flow from outside the frame read 0). ``grid``: :func:`pixel_grid`."""
    import cv2

    coords = grid + flow.calc(cur, prev, None)  # for each pixel of cur: where it was in prev
    return [
        cv2.remap(
            np.ascontiguousarray(m, np.float32),
            coords[..., 0],
            coords[..., 1],
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0.0,
        )
        for m in masks
    ]


class OpticalFlowTracker(_ReferenceTracker):
    """Reference: the previous mask carried into the current frame by dense optical flow.

    Per frame: grey frames, DIS flow F from the current frame to the previous one, then
    ``mask_t(x) = [bilinear(mask_{t-1})(x + F(x)) >= threshold]`` (pixels that flow from outside the
    frame read 0). An empty mask stays empty (the object is lost for good, as for any tracker
    without re-detection).

    Args:
        cfg: a :class:`pixtrack_tf.config.Config` (only its ROI rule is read), or None.
        preset: DIS preset, ``ultrafast``, ``fast`` or ``medium`` (default).
        threshold: the warped mask's binarisation threshold (0.5).
    """

    name = "optical-flow"

    def __init__(self, cfg=None, preset="medium", threshold=0.5):
        super().__init__(cfg)
        import cv2

        if preset not in FLOW_PRESETS:
            raise ValueError(f"optical-flow preset must be one of {', '.join(FLOW_PRESETS)}, got {preset!r}")
        self.cv2 = cv2
        self.flow = cv2.DISOpticalFlow_create(getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{preset.upper()}"))
        self.threshold = float(threshold)

    def _grey(self, frame):
        return self.cv2.cvtColor(np.ascontiguousarray(frame), self.cv2.COLOR_RGB2GRAY)

    def _init(self, frame, mask):
        self.prev = self._grey(frame)
        self.mask = mask.astype(np.float32)
        h, w = self.hw
        self.grid = pixel_grid(h, w)

    def _track(self, frame):
        cur = self._grey(frame)
        if self.mask.any():
            (warped,) = carry_by_flow(self.flow, cur, self.prev, self.grid, [self.mask])
            self.mask = (warped >= self.threshold).astype(np.float32)
        self.prev = cur
        return self.mask > 0


REFERENCE_TRACKERS = {"first-mask": FirstMaskTracker, "optical-flow": OpticalFlowTracker, "affinity": AffinityTracker}


def reference_tracker(name, cfg=None):
    """A reference tracker by name (``first-mask``, ``optical-flow`` or ``affinity``); ``cfg``: a
    :class:`pixtrack_tf.config.Config` (its ROI rule; the affinity tracker its ``affinity`` section)."""
    if name not in REFERENCE_TRACKERS:
        raise ValueError(f"unknown reference tracker {name!r}; known: {', '.join(REFERENCE_TRACKERS)}")
    return REFERENCE_TRACKERS[name](cfg)
