"""Tracking: Algorithm 1 (two-stage), the 1-stage baseline (Eq. 5), Table 2's ground-truth ROIs, the
reference trackers, the SavedModel tracker and the video command's library part."""

from pixtrack_tf.tracking.common import TrackResult, centroid, initial_box
from pixtrack_tf.tracking.segmenters import FcnSegmenter, LstmSegmenter
from pixtrack_tf.tracking.trackers import GroundTruthRoiTracker, MultiObjectTracker, OneStageTracker, TwoStageTracker

__all__ = [
    "FcnSegmenter",
    "LstmSegmenter",
    "MultiObjectTracker",
    "GroundTruthRoiTracker",
    "OneStageTracker",
    "TrackResult",
    "TwoStageTracker",
    "centroid",
    "initial_box",
]
