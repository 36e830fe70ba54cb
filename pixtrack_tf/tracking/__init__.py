"""Tracking: Algorithm 1 (two-stage), the 1-stage baseline (Eq. 5), Table 2's ground-truth ROIs."""
from pixtrack_tf.tracking.trackers import (
    FcnSegmenter,
    GroundTruthRoiTracker,
    LstmSegmenter,
    MultiObjectTracker,
    OneStageTracker,
    TrackResult,
    TwoStageTracker,
    centroid,
    initial_box,
)

__all__ = ["FcnSegmenter", "LstmSegmenter", "MultiObjectTracker", "GroundTruthRoiTracker", "OneStageTracker", "TrackResult", "TwoStageTracker", "centroid", "initial_box"]
