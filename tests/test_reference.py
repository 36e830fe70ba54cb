"""Reference trackers (no training): the first mask copied, and optical-flow mask propagation."""

import numpy as np
import pytest

from pixtrack_tf.data.sequence import DataError
from pixtrack_tf.evaluation.metrics import iou
from pixtrack_tf.tracking.reference import FirstMaskTracker, OpticalFlowTracker, reference_tracker


def textured_square_video(n=21, hw=(192, 256), side=64, shift=(2, 2), seed=0):
    """A square of random texture on a differently textured background, moved by ``shift`` px a frame."""
    rng = np.random.default_rng(seed)
    h, w = hw
    background = rng.integers(0, 80, size=(h + 200, w + 200, 3)).astype(np.uint8)
    background = np.repeat(np.repeat(background[::4, ::4], 4, 0), 4, 1)[:h, :w]  # blobs of 4 px: flow can lock on
    patch = np.repeat(np.repeat(rng.integers(120, 255, size=(side // 4, side // 4, 3)), 4, 0), 4, 1).astype(np.uint8)
    frames, masks = [], []
    for t in range(n):
        x0, y0 = 20 + shift[0] * t, 16 + shift[1] * t
        f = background.copy()
        m = np.zeros((h, w), bool)
        xs, ys = slice(max(x0, 0), max(min(x0 + side, w), 0)), slice(max(y0, 0), max(min(y0 + side, h), 0))
        if xs.stop > xs.start and ys.stop > ys.start:  # some of the object is in the frame
            f[ys, xs] = patch[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
            m[ys, xs] = True
        frames.append(f)
        masks.append(m)
    return frames, masks


def test_flow_tracker_follows_a_translated_textured_square():
    frames, masks = textured_square_video()
    tr = OpticalFlowTracker()
    tr.init(frames[0], masks[0])
    for f in frames[1:]:
        res = tr.track(f)
    assert iou(res.prob > 0.5, masks[-1]) >= 0.9
    # the ROI follows too: the last box holds the object
    x0, y0, x1, y1 = res.box
    ys, xs = np.nonzero(masks[-1])
    assert x0 <= xs.min() and xs.max() < x1 and y0 <= ys.min() and ys.max() < y1


def test_first_mask_tracker_reproduces_its_input():
    frames, masks = textured_square_video(n=5)
    tr = FirstMaskTracker()
    first = tr.init(frames[0], masks[0])
    np.testing.assert_array_equal(first.prob, masks[0].astype(np.float32))
    for f in frames[1:]:
        np.testing.assert_array_equal(tr.track(f).prob, masks[0].astype(np.float32))


@pytest.mark.parametrize("name", ["first-mask", "optical-flow"])
def test_reference_trackers_survive_an_object_leaving_the_frame(name):
    frames, masks = textured_square_video(n=36, shift=(8, 0))  # leaves on the right after ~30 frames
    tr = reference_tracker(name)
    tr.init(frames[0], masks[0])
    for f in frames[1:]:
        res = tr.track(f)
        assert res.prob.shape == masks[0].shape and np.isfinite(res.box).all()
    assert not masks[-1].any()  # the object has left: tracking went on to the end


def test_reference_trackers_refuse_an_empty_first_mask_and_keep_going_on_an_empty_one():
    frames, masks = textured_square_video(n=4)
    for name in ("first-mask", "optical-flow"):
        with pytest.raises(DataError, match="empty"):
            reference_tracker(name).init(frames[0], np.zeros_like(masks[0]))
    tr = OpticalFlowTracker()
    tr.init(frames[0], masks[0])
    tr.mask[:] = 0  # the mask emptied (e.g. the object was occluded): tracking goes on with an empty mask
    res = tr.track(frames[1])
    assert res.prob.sum() == 0 and np.isfinite(res.box).all()
    with pytest.raises(ValueError, match="unknown reference tracker"):
        reference_tracker("nope")


@pytest.mark.parametrize("name", ["first-mask", "optical-flow"])
def test_pixtrack_track_runs_a_reference_tracker(tmp_path, name):
    import json

    from PIL import Image

    from pixtrack_tf.cli import track

    frames, masks = textured_square_video(n=8)
    (tmp_path / "frames").mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(tmp_path / "frames" / f"{i:05d}.png")
    Image.fromarray(masks[0].astype(np.uint8) * 255).save(tmp_path / "mask.png")
    out = tmp_path / "out"
    argv = [
        "--model",
        name,
        "--frames",
        str(tmp_path / "frames"),
        "--mask",
        str(tmp_path / "mask.png"),
        "--out",
        str(out),
        "--no-progress",
    ]
    assert track.main(argv) == 0
    assert len(list((out / "masks").glob("*.png"))) == 8
    doc = json.loads((out / "track.json").read_text())
    assert doc["model"] == name and len(doc["frames"]) == 8 and doc["frames_per_second"] > 0
    last = np.asarray(Image.open(out / "masks" / "00007.png")) > 0
    expected = masks[0] if name == "first-mask" else masks[-1]
    assert iou(last, expected) >= 0.9
