"""The guided filter that pixtrack+ can upsample its output with (tracking/guided.py)."""

import numpy as np
import pytest

from pixtrack_tf.tracking.guided import box_mean, guided_filter


def _brute_box_mean(x, r):
    h, w = x.shape[-2:]
    out = np.empty_like(x)
    for i in range(h):
        for j in range(w):
            out[..., i, j] = x[..., max(i - r, 0) : i + r + 1, max(j - r, 0) : j + r + 1].mean(axis=(-2, -1))
    return out


@pytest.mark.parametrize("r", [1, 3, 7])
def test_box_mean_is_the_clipped_window_mean(r):
    x = np.random.default_rng(r).random((2, 11, 17)).astype(np.float32)
    np.testing.assert_allclose(box_mean(x, r).numpy(), _brute_box_mean(x, r), atol=1e-5)


def _edge_frame(h=32, w=64, at=28, left=(40, 40, 40), right=(200, 200, 200)):
    frame = np.empty((h, w, 3), np.uint8)
    frame[:, :at], frame[:, at:] = left, right
    return frame


def _blurred_step(h=32, w=64, at=30.0, width=8.0):
    """A probability rising from 0 to 1 around column ``at`` (an upsampled coarse mask's boundary)."""
    cols = np.clip((np.arange(w) - at) / width + 0.5, 0, 1)
    return np.broadcast_to(cols, (1, h, w)).astype(np.float32)


def _crossing(p):
    """Column where the middle row first reaches 0.5."""
    return int(np.argmax(p[0, p.shape[1] // 2] >= 0.5))


def _jump(p, at=28):
    """The probability's rise across the frame's edge (between columns at - 1 and at), middle row."""
    row = p[0, p.shape[1] // 2]
    return row[at] - row[at - 1]


@pytest.mark.parametrize("stride", [1, 4])
@pytest.mark.parametrize("kind", ["grey", "colour"])
@pytest.mark.parametrize("at", [26.0, 31.0])
def test_the_mask_boundary_moves_onto_the_frames_edge(kind, at, stride):
    """A blurred boundary 2-3 pixels off the frame's edge (a coarse mask upsampled) snaps onto it and
    becomes a jump there -- also when the coefficients are fitted at 1/4 of the frame (the fast filter:
    the edge is still the full-resolution frame's, not one on the coarse grid)."""
    frame, p = _edge_frame(at=28), _blurred_step(at=at)
    assert abs(_crossing(p) - at) <= 1 and _jump(p) < 0.15
    q = guided_filter(frame, p, radius=8, eps=1e-3, kind=kind, stride=stride).numpy()
    assert q.shape == p.shape and q.min() >= 0 and q.max() <= 1
    assert _crossing(q) == 28 and _jump(q) > 0.5


def test_a_flat_frame_leaves_a_constant_probability_alone():
    frame = np.full((20, 30, 3), 90, np.uint8)
    p = np.full((2, 20, 30), 0.3, np.float32)
    np.testing.assert_allclose(guided_filter(frame, p, 4, 1e-3).numpy(), p, atol=1e-5)


def test_only_the_colour_guide_follows_an_edge_of_equal_brightness():
    # red against green of (nearly) the same luma: the grey guide sees no edge, the colour guide does
    frame = _edge_frame(at=28, left=(200, 40, 0), right=(0, 129, 40))
    p = _blurred_step(at=31.0)
    grey = guided_filter(frame, p, 8, 1e-3, kind="grey").numpy()
    colour = guided_filter(frame, p, 8, 1e-3, kind="colour").numpy()
    assert _crossing(colour) == 28 and _jump(colour) > 0.5
    assert _crossing(grey) > 28 and _jump(grey) < 0.15


@pytest.mark.parametrize("kind", ["grey", "colour"])
def test_the_fast_filter_is_close_to_the_exact_one_on_a_smooth_scene(kind):
    """stride 2 on a frame whose content varies slowly (as a photograph between edges): the output is the
    exact filter's up to a small error; a frame of noise is where the two may differ, not here."""
    yy, xx = np.mgrid[0:60, 0:80].astype(np.float32)
    frame = np.stack([120 + 80 * np.sin(xx / 9), 120 + 80 * np.cos(yy / 11), 100 + xx], -1).astype(np.uint8)
    p = np.clip((xx - 35) / 10 + 0.5, 0, 1)[None].astype(np.float32)
    exact = guided_filter(frame, p, 8, 1e-3, kind).numpy()
    fast = guided_filter(frame, p, 8, 1e-3, kind, stride=2).numpy()
    assert fast.shape == exact.shape
    assert np.abs(fast - exact).mean() < 0.02 and np.abs(fast - p).mean() > 4 * np.abs(fast - exact).mean()


def test_a_stride_below_one_is_refused():
    with pytest.raises(ValueError, match="stride"):
        guided_filter(np.zeros((4, 4, 3), np.uint8), np.zeros((1, 4, 4), np.float32), 1, 1e-3, stride=0)


def test_an_unknown_guide_is_refused():
    with pytest.raises(ValueError, match="guide"):
        guided_filter(np.zeros((4, 4, 3), np.uint8), np.zeros((1, 4, 4), np.float32), 1, 1e-3, kind="rgb")


def _reference_filter(frame, p, r, eps, kind):
    """He et al.'s guided filter written out in numpy (brute box means, numpy's 3 x 3 solve)."""
    img = frame.astype(np.float64) / 255.0
    if kind == "grey":
        img = img @ np.array([0.299, 0.587, 0.114])[:, None]
    img = np.moveaxis(img, -1, 0)  # (C, H, W)
    out = []
    for pk in p.astype(np.float64):
        mi, mp = _brute_box_mean(img, r), _brute_box_mean(pk, r)
        cov = _brute_box_mean(img * pk, r) - mi * mp
        sigma = _brute_box_mean(img[:, None] * img[None], r) - mi[:, None] * mi[None]
        sigma = np.moveaxis(sigma, (0, 1), (-2, -1)) + eps * np.eye(len(img))
        a = np.moveaxis(np.linalg.solve(sigma, np.moveaxis(cov, 0, -1)[..., None])[..., 0], -1, 0)
        b = mp - (a * mi).sum(0)
        out.append(np.clip((_brute_box_mean(a, r) * img).sum(0) + _brute_box_mean(b, r), 0, 1))
    return np.stack(out)


@pytest.mark.parametrize("kind", ["grey", "colour"])
def test_the_filter_is_he_et_als_written_out(kind):
    """The exact filter (stride 1) against a plain numpy transcription of He et al.'s algorithm: the
    separable pools and the closed-form 3 x 3 solve give the same output on a textured frame."""
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (13, 19, 3)).astype(np.uint8)
    p = rng.random((2, 13, 19)).astype(np.float32)
    got = guided_filter(frame, p, 3, 1e-2, kind).numpy()
    np.testing.assert_allclose(got, _reference_filter(frame, p, 3, 1e-2, kind), atol=2e-4)
