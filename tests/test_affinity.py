"""The feature-affinity reference tracker: the propagation against a brute-force NumPy reference,
a textured square followed with the real (HED) backbone, two objects of a palette mask kept apart,
memory flat in the video's length, the command and the settings chooser."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from test_reference import textured_square_video

from pixtrack_tf.config import AffinityConfig, ConfigError, load_config
from pixtrack_tf.evaluation.metrics import iou
from pixtrack_tf.tracking.affinity import Layout, MultiAffinityTracker, decide, propagate
from pixtrack_tf.tracking.reference import AffinityTracker, reference_tracker


def brute_force(q, f0, l0, recent, grid, radius, topk, tau):
    """Label propagation written out position by position (no tiles, no windows as tensors)."""
    h, w = grid
    out = np.zeros((h * w, l0.shape[1]))
    for p in range(h * w):
        py, px = divmod(p, w)
        scores, labels = list(f0 @ q[p]), list(l0)
        for feats, labs in recent:
            for r in range(h * w):
                ry, rx = divmod(r, w)
                if radius <= 0 or (abs(ry - py) <= radius and abs(rx - px) <= radius):
                    scores.append(feats[r] @ q[p])
                    labels.append(labs[r])
        scores, labels = np.asarray(scores), np.asarray(labels)
        top = np.argsort(-scores, kind="stable")[:topk]
        e = np.exp((scores[top] - scores[top].max()) / tau)
        out[p] = (e / e.sum()) @ labels[top]
    return out


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.mark.parametrize("grid,radius,tile", [((19, 23), 3, 8), ((19, 23), 3, 5), ((6, 7), 2, 8), ((9, 10), 0, 8)])
def test_propagation_equals_a_brute_force_reference(grid, radius, tile):
    """Tiles (19 x 23, radius 3: windows of 14 x 14 cells, or 11 x 11 around tiles of 5) and the one-tile
    path (small grids, no window) give what the position-by-position loop gives, with two slots of three
    filled."""
    rng = np.random.default_rng(0)
    P, C, L = grid[0] * grid[1], 6, 3
    q, f0 = _unit(rng.normal(size=(P, C))), _unit(rng.normal(size=(P, C)))
    l0 = rng.dirichlet(np.ones(L), size=P)
    recent = [(_unit(rng.normal(size=(P, C))), rng.dirichlet(np.ones(L), size=P)) for _ in range(2)]
    lay = Layout(grid, radius, tile)
    assert (lay.tiles > 1) == (grid == (19, 23))
    keys = [lay.gather(tf.constant(f, tf.float32), lay.window_idx) for f, _ in recent]
    labs = [lay.gather(tf.constant(v, tf.float32), lay.window_idx) for _, v in recent]
    keys.append(tf.zeros_like(keys[0]))  # an empty slot: must weigh nothing
    labs.append(tf.ones_like(labs[0]))
    valid = tf.constant([True, True, False])
    tiles = propagate(
        lay.gather(tf.constant(q, tf.float32), lay.query_idx),
        tf.constant(f0, tf.float32),
        tf.constant(l0, tf.float32),
        keys,
        labs,
        valid,
        tf.constant(lay.allowed),
        5,
        0.05,
    )
    got = tf.gather(tf.reshape(tiles, (-1, L)), lay.back_idx).numpy()
    np.testing.assert_allclose(got, brute_force(q, f0, l0, recent, grid, radius, 5, 0.05), atol=1e-5)


def test_decide_is_the_argmax_at_threshold_one_half():
    labels = tf.constant([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.35, 0.55], [0.4, 0.42, 0.18]])
    p = decide(labels, 0.5).numpy()
    winners = np.where(p.max(axis=1) >= 0.5, p.argmax(axis=1) + 1, 0)
    np.testing.assert_array_equal(winners, labels.numpy().argmax(axis=1))
    # a lower threshold gives an object pixels it shares with a stronger rival
    assert decide(tf.constant([[0.55, 0.45]]), 0.4).numpy()[0, 0] > 0.5 > decide(tf.constant([[0.55, 0.45]]), 0.5)[0, 0]


def test_a_textured_square_is_followed_with_the_hed_backbone():
    """30 frames of a square moving 3 px a frame: IoU >= 0.8 at the end, the ROI on it."""
    frames, masks = textured_square_video(n=31, hw=(192, 256), side=80, shift=(3, 2))
    tr = reference_tracker("affinity", load_config(None, ["affinity.scale=1.0", "affinity.radius=2"]))
    assert isinstance(tr, AffinityTracker)
    tr.init(frames[0], masks[0])
    for f in frames[1:]:
        res = tr.track(f)
    assert iou(res.prob >= 0.5, masks[-1]) >= 0.8
    x0, y0, x1, y1 = res.box
    ys, xs = np.nonzero(masks[-1])
    assert x0 <= xs.min() and xs.max() < x1 and y0 <= ys.min() and ys.max() < y1
    assert len(tr.memory["recent"]) == AffinityConfig().memory  # the ring buffer holds N frames, no more


def _two_squares(t, hw=(128, 192)):
    rng = np.random.default_rng(1)
    h, w = hw
    img = np.repeat(np.repeat(rng.integers(0, 90, (h // 4, w // 4, 3)), 4, 0), 4, 1).astype(np.uint8)
    lab = np.zeros((h, w), np.uint8)
    for k, (y, x, dx) in enumerate(((20, 10, 2), (70, 120, -2)), start=1):
        tex = np.repeat(np.repeat(np.random.default_rng(10 + k).integers(120, 255, (10, 10, 3)), 4, 0), 4, 1)
        x0 = x + dx * t
        img[y : y + 40, x0 : x0 + 40] = tex
        lab[y : y + 40, x0 : x0 + 40] = k
    return img, lab


def test_two_objects_of_a_palette_mask_keep_their_labels(tmp_path):
    """``pixtrack track --model affinity`` with a palette mask: both objects, each where it should be."""
    from pixtrack_tf.cli import track

    (tmp_path / "frames").mkdir()
    for t in range(16):
        Image.fromarray(_two_squares(t)[0]).save(tmp_path / "frames" / f"{t:05d}.png")
    im = Image.fromarray(_two_squares(0)[1], mode="P")
    im.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    im.save(tmp_path / "mask.png")
    argv = ["--model", "affinity", "--frames", str(tmp_path / "frames"), "--mask", str(tmp_path / "mask.png")]
    argv += ["--out", str(tmp_path / "out"), "--no-progress", "--set", "affinity.scale=1.0"]
    assert track.main(argv) == 0
    last = np.asarray(Image.open(tmp_path / "out" / "masks" / "00015.png"))
    truth = _two_squares(15)[1]
    for k in (1, 2):
        assert iou(last == k, truth == k) >= 0.7, k
    doc = json.loads((tmp_path / "out" / "track.json").read_text())
    assert doc["objects"] == [1, 2] and doc["status"] == "complete"
    # a bad setting is refused before any work, naming the key
    bad = argv[:-1] + ["affinity.scale=9"]
    assert track.main(bad + ["--force"]) == 2


def test_one_pass_for_several_objects_gives_what_each_gets_alone():
    """Two objects in one pass: each object's map is its share against the best rival; where the
    objects do not compete (far apart) it equals what one object tracked alone gets."""
    frames = [_two_squares(t)[0] for t in range(6)]
    lab0 = _two_squares(0)[1]
    cfg = load_config(None, ["affinity.scale=1.0"])
    both = MultiAffinityTracker(cfg)
    both.init(frames[0], [lab0 == 1, lab0 == 2])
    alone = AffinityTracker(cfg, core=both.core)
    alone.init(frames[0], lab0 == 1)
    for f in frames[1:]:
        r_both, r_alone = both.track(f), alone.track(f)
    left = np.s_[:, :96]  # object 2 stays in the right half
    agree = ((r_both[0].prob >= 0.5) == (r_alone.prob >= 0.5))[left].mean()
    assert agree > 0.98


def test_memory_is_flat_in_the_video_length(tmp_path):
    """Peak resident memory tracking 600 frames against 60 (same size), in fresh processes: < 100 MB apart."""
    rss = {}
    for n in (60, 600):
        code = (
            f"import resource, sys; sys.path.insert(0, r'{Path(__file__).parent}'); "
            "from pixtrack_tf.config import load_config; "
            "from pixtrack_tf.tracking.reference import reference_tracker; "
            "from test_reference import textured_square_video; "
            "frames, masks = textured_square_video(n=20, hw=(120, 160), side=40, shift=(1, 1)); "
            "tr = reference_tracker('affinity', load_config(None, ['affinity.scale=1.0'])); "
            "tr.init(frames[0], masks[0]); "
            f"[tr.track(frames[1 + i % 19]) for i in range({n})]; "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
        )
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        rss[n] = int(r.stdout.strip().splitlines()[-1]) / 1024
    assert abs(rss[600] - rss[60]) < 100, rss


def test_affinity_settings_are_checked():
    for bad, key in (("layer=block9", "affinity.layer"), ("topk=0", "affinity.topk"), ("threshold=1", "threshold")):
        with pytest.raises(ConfigError, match=key):
            load_config(None, [f"affinity.{bad}"])


def test_affinity_select_ranks_candidates_on_training_sequences(tmp_path, davis_root):
    from pixtrack_tf.cli import affinity_select

    out = tmp_path / "sel"
    argv = ["--root", str(davis_root), "--sequences", "bear", "--out", str(out), "--no-progress"]
    argv += ["--set", "affinity.scale=0.25", "--candidate", "", "--candidate", "affinity.memory_labels=hard"]
    assert affinity_select.main(argv) == 0
    doc = json.loads((out / "selection.json").read_text())
    assert len(doc["candidates"]) == 2 and doc["data"]["sequences"] == ["bear"]
    assert doc["candidates"][0]["J_mean"] >= doc["candidates"][1]["J_mean"] > 0.3
    assert doc["provenance"]["commit"]
    # val is not a choice, and an unknown key is named
    with pytest.raises(SystemExit):
        affinity_select.main(["--root", str(davis_root), "--split", "val", "--out", str(out)])
    assert affinity_select.main(argv[:6] + ["--grid", "affinity.nope=1"]) == 2


def test_the_savedmodel_export_tracks_as_the_tracker_does(tmp_path):
    """``pixtrack export --affinity``: a SavedModel for one frame size, read by SavedModelTracker, giving
    what the in-process tracker gives; another frame size is refused by name."""
    from pixtrack_tf.cli import export
    from pixtrack_tf.data.sequence import DataError
    from pixtrack_tf.tracking.savedmodel import SavedModelTracker

    frames, masks = textured_square_video(n=8, hw=(96, 128), side=40, shift=(2, 1))
    out = tmp_path / "sm"
    sets = ["--set", "affinity.scale=1.0", "--set", "affinity.radius=2"]
    assert export.main(["--affinity", "--frame-size", "128x96", "--out", str(out)] + sets) == 0
    assert export.main(["--affinity", "--frame-size", "128", "--out", str(tmp_path / "x")]) == 2
    saved, here = (
        SavedModelTracker(out),
        reference_tracker("affinity", load_config(None, ["affinity.scale=1.0", "affinity.radius=2"])),
    )
    saved.init(frames[0], masks[0])
    here.init(frames[0], masks[0])
    for f in frames[1:]:
        a, b = saved.track(f), here.track(f)
        np.testing.assert_allclose(a.prob, b.prob, atol=1e-4)
        np.testing.assert_allclose(a.box, b.box, atol=1e-3)
    big = np.zeros((120, 160, 3), np.uint8)
    with pytest.raises(DataError, match="128x96"):
        SavedModelTracker(out).init(big, np.ones((120, 160), bool))
