"""pixtrack+ (issue #31; not the paper): the decoder starts from the memory read, its settings are
checked, and it trains, tracks (one object, a palette of several in one pass) and is evaluated by the
project's own commands."""

import json

import numpy as np
import pytest

from pixtrack_tf.config import ConfigError, load_config
from pixtrack_tf.models.plus import PlusDecoder, prior_logit


def _taps(rng, h=16, w=24):
    return {
        "block4_conv3": rng.normal(size=(2, h // 8, w // 8, 512)).astype("float32"),
        "block3_conv3": rng.normal(size=(2, h // 4, w // 4, 256)).astype("float32"),
        "block2_conv2": rng.normal(size=(2, h // 2, w // 2, 128)).astype("float32"),
        "block1_conv2": rng.normal(size=(2, h, w, 64)).astype("float32"),
    }


def test_the_untrained_decoder_is_the_read_itself():
    """Zero last layer + residual: the logits are the read's logit (area-pooled to the output stride),
    whatever the features; without the residual they are 0 (p = 0.5) instead."""
    import keras

    rng = np.random.default_rng(0)
    prior = rng.uniform(0, 1, (2, 16, 24, 1)).astype("float32")
    three = ("block1_conv2", "block2_conv2", "block3_conv3")
    for skips, stride in ((three, 1), (("block2_conv2", "block3_conv3"), 2), (("block3_conv3",), 4), ((), 8)):
        dec = PlusDecoder(skips, width=4)
        logits = np.asarray(dec(_taps(rng), prior))
        pooled = np.asarray(keras.ops.average_pool(prior, stride, stride, padding="valid"))
        assert logits.shape == (2, 16 // stride, 24 // stride, 1) and dec.stride == stride
        np.testing.assert_allclose(logits, np.asarray(prior_logit(pooled)), atol=1e-5)
    flat = np.asarray(PlusDecoder(width=4, residual=False)(_taps(rng), prior))
    assert np.abs(flat).max() == 0.0
    two = np.concatenate([prior, rng.uniform(0, 1, prior.shape).astype("float32")], axis=-1)
    dec = PlusDecoder(width=4, prior_channels=2)  # a mask prior beside the read: still the read's logit
    pooled = np.asarray(keras.ops.average_pool(prior, 2, 2, padding="valid"))
    np.testing.assert_allclose(np.asarray(dec(_taps(rng), two)), np.asarray(prior_logit(pooled)), atol=1e-5)


def test_plus_settings_are_checked():
    bad_values = ("plus.skips=[block5_conv1]", "plus.width=6", "plus.crop=100", "plus.steps=0", "plus.memory=both")
    bad_values += ("plus.guided_radius=-1", "plus.guided_eps=0", "plus.guide=rgb", "plus.guided_stride=0")
    bad_values += ("plus.roi=box", "plus.roi=mask plus.mask_prior=flow", "plus.components=few", "plus.affine=-0.1")
    bad_values += ("plus.roi_margin=-2", "plus.roi_context=-1", "plus.loss=iou", "plus.threshold=1")
    for bad in (*bad_values, "plus.mask_prior=x"):
        with pytest.raises(ConfigError, match="plus"):
            load_config("plus", bad.split())
    cfg = load_config("plus")
    assert cfg.plus.skips == ("block2_conv2", "block3_conv3") and cfg.affinity.layer == "block4_conv3"


def test_train_writes_reads_and_a_run_that_tracks(plus_run, tmp_path):
    """The stage builds the affinity reads (uint8, frame 0 = the mask) and trains through fit; the run
    folder is a --model for pixtrack track, which tracks two objects of a palette mask in one pass."""
    from PIL import Image

    from pixtrack_tf.cli import track
    from pixtrack_tf.data import load_dataset
    from pixtrack_tf.runs import load_tracker
    from pixtrack_tf.tracking.plus import PlusTracker

    reads = sorted((plus_run.parent / "store" / "plus_reads").rglob("*.npz"))
    assert len(reads) >= 3  # one per training sequence of the fold
    prior = np.load(reads[0])["prior"]
    assert prior.dtype == np.uint8 and prior[0].min() == 0 and prior[0].max() == 255  # frame 0: the mask
    assert np.mean((prior[0] > 0) & (prior[0] < 255)) < 0.1  # soft at its edge only (resized)
    log = [json.loads(line) for line in (plus_run / "plus" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 4 and {"iou_refined", "iou_read"} <= set(log[-1])
    tr = load_tracker(str(plus_run), objects=2)
    assert isinstance(tr, PlusTracker)

    seq = load_dataset("embedded", num_sequences=4, n_frames=10)[0]
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(4):
        Image.fromarray(seq.frame(i)).save(frames / f"{i:05d}.png")
    m = seq.mask(0)
    two = np.zeros(m.shape, np.uint8)
    ys, xs = np.nonzero(m)
    two[m] = 1
    two[ys[: len(ys) // 2], xs[: len(xs) // 2]] = 2
    im = Image.fromarray(two, mode="P")
    im.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    im.save(tmp_path / "two.png")
    out = tmp_path / "o"
    argv = ["--model", str(plus_run), "--frames", str(frames), "--mask", str(tmp_path / "two.png"), "--out", str(out)]
    assert track.main(argv + ["--no-progress", "--no-overlay"]) == 0
    doc = json.loads((out / "track.json").read_text())
    assert doc["tracked"] == 4 and doc["objects"] == [1, 2] and len(doc["frames"][-1]["boxes"]) == 2


def test_track_fast_sets_the_fast_form_and_only_for_pixtrack_plus(plus_run, tmp_path, monkeypatch, capsys):
    """pixtrack track --fast: the three settings of pixtrack+'s fast form reach the tracker (a --set of the
    same key still wins); with a model that is not pixtrack+, a clear error and nothing written."""
    from PIL import Image

    from pixtrack_tf import runs
    from pixtrack_tf.cli import track
    from pixtrack_tf.data import load_dataset

    seq = load_dataset("embedded", num_sequences=4, n_frames=10)[0]
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        Image.fromarray(seq.frame(i)).save(frames / f"{i:05d}.png")
    Image.fromarray(seq.mask(0).astype(np.uint8) * 255).save(tmp_path / "m.png")
    seen = []
    load = runs.load_tracker
    monkeypatch.setattr(runs, "load_tracker", lambda *a, **k: seen.append(k["overrides"]) or load(*a, **k))
    argv = ["--frames", str(frames), "--mask", str(tmp_path / "m.png"), "--no-progress", "--no-overlay", "--fast"]
    out = ["--out", str(tmp_path / "o"), "--set", "plus.roi_margin=2"]
    assert track.main(argv + ["--model", str(plus_run), *out]) == 0
    assert seen[-1] == [*runs.PLUS_FAST, "plus.roi_margin=2"]
    cfg = runs.load_plus(plus_run, seen[-1])[0]
    assert (cfg.affinity.scale, cfg.affinity.radius, cfg.plus.roi_margin) == (0.5, 6, 2)
    assert track.main(argv + ["--model", "optical-flow", "--out", str(tmp_path / "f")]) == 2
    assert "--fast is pixtrack+'s" in capsys.readouterr().err and not (tmp_path / "f").exists()


def test_reproduce_has_a_pixtrack_plus_row(plus_run, tmp_path):
    from pixtrack_tf.cli import reproduce

    out = tmp_path / "rep"
    argv = ["--table", "3", "--quick", "--run", str(plus_run), "--clips", "1", "--out", str(out), "--no-progress"]
    argv += ["--methods", "pixtrack+ (not the paper),First mask (reference)", "--davis-measures"]
    assert reproduce.main(argv) == 0
    doc = json.loads((out / "table3.json").read_text())
    assert {r["method"] for r in doc["davis"]} == {"pixtrack+ (not the paper)", "First mask (reference)"}
    assert reproduce.main(argv[:-4] + ["--methods", "pixtrack+ (not the paper)", "--table", "2"]) == 2  # Table 3 only


def test_a_plus_savedmodel_tracks_as_the_tracker_does(plus_run, tmp_path):
    """pixtrack export --run PLUS_RUN --frame-size WxH: initialize/step signatures that give the
    in-process tracker's masks (float32), and a frame of another size is refused by name."""
    from pixtrack_tf.cli import export
    from pixtrack_tf.data import load_dataset
    from pixtrack_tf.runs import load_plus
    from pixtrack_tf.tracking.plus import SinglePlusTracker
    from pixtrack_tf.tracking.savedmodel import SavedModelTracker

    seq = load_dataset("embedded", num_sequences=4, n_frames=10)[1]
    h, w = seq.size
    out = tmp_path / "sm"
    assert export.main(["--run", str(plus_run), "--out", str(out)]) == 2  # no frame size: refused
    assert export.main(["--run", str(plus_run), "--out", str(out), "--frame-size", f"{w}x{h}"]) == 0
    sm = SavedModelTracker(out)
    tr = SinglePlusTracker(*load_plus(plus_run, ["track.precision=float32", "affinity.precision=float32"]))
    sm.init(seq.frame(0), seq.mask(0))
    tr.init(seq.frame(0), seq.mask(0))
    for i in range(1, 4):
        a, b = sm.track(seq.frame(i)), tr.track(seq.frame(i))
        assert np.abs(a.prob - b.prob).max() < 1e-3
        np.testing.assert_allclose(a.box, b.box, atol=0.5)
    from pixtrack_tf.data import DataError

    with pytest.raises(DataError, match="exported for"):
        SavedModelTracker(out).init(np.zeros((h + 8, w, 3), np.uint8), np.pad(seq.mask(0), ((0, 8), (0, 0))))


def test_memory_refined_remembers_the_decoders_output(plus_run):
    """plus.memory: "read" keeps the read's own labels in a tracked frame's memory entry (as the
    reference does); "refined" keeps the decoder's output, pooled as the first frame's mask is; the
    first frame's entry and the read of the first tracked frame are the same either way."""
    from pixtrack_tf.data import load_dataset
    from pixtrack_tf.runs import load_plus
    from pixtrack_tf.tracking.plus import SinglePlusTracker

    seq = load_dataset("embedded", num_sequences=4, n_frames=10)[1]
    fixed = ["track.precision=float32", "affinity.precision=float32"]
    runs = {}
    for memory in ("read", "refined"):
        tr = SinglePlusTracker(*load_plus(plus_run, fixed + [f"plus.memory={memory}"]))
        tr.init(seq.frame(0), seq.mask(0))
        _, q = tr._features(seq.frame(1), tr.size)
        read, refined = tr.read_and_refine(seq.frame(1))
        labels = np.asarray(tr.memory["recent"][0][1])
        pooled = np.asarray(tr.core.entry(tr.memory, q, refined)[1])
        runs[memory] = (read, labels, pooled)
    read, labels, pooled = runs["refined"]
    np.testing.assert_allclose(labels, pooled, atol=1e-6)
    np.testing.assert_allclose(runs["read"][0], read, atol=1e-6)  # the same read of frame 1
    assert np.abs(runs["read"][1] - pooled).max() > 1e-3  # "read" remembers something else


def test_cell_max_and_gate_labels_by_hand():
    """plus.memory: gated -- cell_max is each feature cell's highest probability; gate_labels scales each
    object's label by its gate and gives the mass taken off to the background."""
    from pixtrack_tf.tracking.plus import cell_max, gate_labels

    probs = np.zeros((2, 16, 24), np.float32)  # grid (2, 3): cells of 8 x 8 pixels
    probs[0, 3, 20] = 0.9  # cell (0, 2)
    probs[0, 12, 1] = 0.4  # cell (1, 0)
    probs[1, 8:16, 8:16] = 0.7  # cell (1, 1)
    want = np.zeros((6, 2), np.float32)
    want[2, 0], want[3, 0], want[4, 1] = 0.9, 0.4, 0.7
    np.testing.assert_allclose(np.asarray(cell_max(probs, (2, 3))), want, atol=1e-6)
    labels = np.array([[0.2, 0.5, 0.3], [0.6, 0.4, 0.0]], np.float32)  # (P, 1 + K)
    gate = np.array([[0.5, 1.0], [0.0, 0.2]], np.float32)
    out = np.asarray(gate_labels(labels, gate))
    np.testing.assert_allclose(out, [[0.45, 0.25, 0.3], [1.0, 0.0, 0.0]], atol=1e-6)


@pytest.mark.parametrize("gating", ["gated", "pruned"])
def test_memory_gated_keeps_the_reads_labels_where_the_decoder_keeps_the_object(plus_run, gating):
    """plus.memory: gated or pruned (with the box of plus.roi: mask too) remembers the read's own labels gated by the
    decoder's output: no cell gains object mass, each loses it in proportion to the output's highest
    probability in the cell (pruned: all of it where that is not above 0.5, none elsewhere), and the mass
    taken off goes to the background."""
    from pixtrack_tf.data import load_dataset
    from pixtrack_tf.runs import load_plus
    from pixtrack_tf.tracking.plus import SinglePlusTracker, cell_max

    seq = load_dataset("embedded", num_sequences=4, n_frames=10)[1]
    fixed = ["track.precision=float32", "affinity.precision=float32"]
    for roi in ("frame", "mask"):
        got = {}
        for memory in ("read", gating):
            tr = SinglePlusTracker(*load_plus(plus_run, fixed + [f"plus.memory={memory}", f"plus.roi={roi}"]))
            tr.init(seq.frame(0), seq.mask(0))
            read, refined = tr.read_and_refine(seq.frame(1))
            got[memory] = (read, refined, np.asarray(tr.memory["recent"][0][1]))
        np.testing.assert_allclose(got["read"][0], got[gating][0], atol=1e-6)  # the same read of frame 1
        gate = np.asarray(cell_max(got[gating][1], tr.memory["grid"]))  # (P, K): the memory holds each cell once
        if gating == "pruned":
            gate = (gate > 0.5).astype(np.float32)
        plain, gated = got["read"][2], got[gating][2]
        assert (gated[..., 1:] <= plain[..., 1:] + 1e-6).all()
        np.testing.assert_allclose(gated[..., 1:], plain[..., 1:] * gate, atol=1e-6)
        np.testing.assert_allclose(gated.sum(-1), plain.sum(-1), atol=1e-5)  # the mass moves to the background
        assert ((plain[..., 1:] - gated[..., 1:]) > 1e-4).any(), roi  # the gate takes object mass off somewhere


@pytest.mark.parametrize(
    "switches",
    [
        ("plus.memory=refined",),
        ("plus.memory=gated",),
        ("plus.memory=pruned",),
        ("plus.guided_radius=3", "plus.guide=colour", "plus.guided_stride=2", "plus.threshold=0.4"),
    ],
    ids=["refined", "gated", "pruned", "guided-threshold"],
)
def test_a_switched_savedmodel_tracks_as_the_tracker_does(plus_run, tmp_path, switches):
    """The SavedModel of a run with plus.memory: refined, gated or pruned remembers what the tracker remembers; with
    the guided filter and plus.threshold on, it reports the same filtered, remapped mask."""
    from pixtrack_tf.data import load_dataset
    from pixtrack_tf.runs import load_plus
    from pixtrack_tf.tracking.affinity_savedmodel import export_affinity
    from pixtrack_tf.tracking.plus import SinglePlusTracker
    from pixtrack_tf.tracking.savedmodel import SavedModelTracker

    seq = load_dataset("embedded", num_sequences=4, n_frames=10)[1]
    cfg, model = load_plus(plus_run, ["track.precision=float32", "affinity.precision=float32", *switches])
    sm = SavedModelTracker(export_affinity(cfg, seq.size, tmp_path / "sm", model=model))
    tr = SinglePlusTracker(cfg, model)
    sm.init(seq.frame(0), seq.mask(0))
    tr.init(seq.frame(0), seq.mask(0))
    for i in range(1, 5):
        a, b = sm.track(seq.frame(i)), tr.track(seq.frame(i))
        assert np.abs(a.prob - b.prob).max() < 1e-3


def test_the_guided_filter_changes_only_the_reported_mask(plus_run):
    """plus.guided_radius > 0: the output is the unfiltered output passed through the guided filter with
    the frame as guide; the memory (the read's labels) and so the next frame's read are unchanged."""
    from pixtrack_tf.data import load_dataset
    from pixtrack_tf.runs import load_plus
    from pixtrack_tf.tracking.guided import guided_filter
    from pixtrack_tf.tracking.plus import SinglePlusTracker

    seq = load_dataset("embedded", num_sequences=4, n_frames=10)[1]
    fixed = ["track.precision=float32", "affinity.precision=float32"]
    got = {}
    for radius in (0, 4):
        tr = SinglePlusTracker(*load_plus(plus_run, fixed + [f"plus.guided_radius={radius}"]))
        tr.init(seq.frame(0), seq.mask(0))
        got[radius] = [tr.read_and_refine(seq.frame(i)) for i in (1, 2)]
    for (read0, plain), (read4, filtered), i in zip(got[0], got[4], (1, 2)):
        np.testing.assert_allclose(read0, read4, atol=1e-6)
        want = guided_filter(seq.frame(i), plain, 4, 1e-3).numpy()
        np.testing.assert_allclose(filtered, want, atol=5e-5)  # float32 running sums, graph vs eager
        assert np.abs(filtered - plain).max() > 1e-2


def test_plus_bench_times_the_guided_filter_in_turns(plus_run):
    """bench --plus: with a guided filter set, the tracker as set and its bilinear twin are both timed and
    the difference is reported; without one, only the tracker as set."""
    from pixtrack_tf.bench.plus import format_plus, plus_bench

    kw = dict(precision="float32", rounds=1, reps=1, size=(48, 64))
    r = plus_bench(plus_run, overrides=["plus.guided_radius=3"], **kw)
    assert r["plus_upsampling"]["guided_radius"] == 3 and r["plus_frame"] == [64, 48]
    assert r["plus_ms"] > 0 and r["plus_bilinear_ms"] > 0
    assert r["plus_guided_ms"] == pytest.approx(r["plus_ms"] - r["plus_bilinear_ms"])
    assert "guided filter costs" in format_plus(r)
    plain = plus_bench(plus_run, **kw)
    assert "plus_bilinear_ms" not in plain and "guided filter" not in format_plus(plain)
    assert "plus_whole_frame_ms" not in plain
    roi = plus_bench(plus_run, overrides=["plus.roi=mask"], **kw)  # the whole frame timed beside the box
    assert 0 < roi["plus_roi_share"] <= 1 and roi["plus_roi_speedup"] == pytest.approx(
        roi["plus_whole_frame_ms"] / roi["plus_ms"]
    )
    assert "box is" in format_plus(roi) and "plus.roi mask" in format_plus(roi)
    st = roi["plus_stages"]  # where the frame goes: three graphs and the rest add up to the whole step
    assert all(st[f"{k}_ms"] > 0 for k in ("backbone", "read", "decoder", "track"))
    assert st["python_ms"] == pytest.approx(st["track_ms"] - st["backbone_ms"] - st["read_ms"] - st["decoder_ms"])
    assert st["backbone_gflop"] > 0 and st["read_gflop"] > 0 and 0 < st["box_share"] <= 1
    assert "| memory read |" in format_plus(roi)
    assert "plus_stages" not in plus_bench(plus_run, overrides=["plus.roi=mask"], stages=False, **kw)


def test_deform_mask_makes_a_wrong_but_related_prior():
    """MaskTrack's training prior: soft, in [0, 1], sometimes empty, mostly overlapping the mask
    without being it."""
    from pixtrack_tf.training.plus import deform_mask

    mask = np.zeros((60, 80), np.float32)
    mask[20:40, 30:55] = 1
    rng = np.random.default_rng(0)
    out = [deform_mask(mask, rng) for _ in range(200)]
    assert all(o.shape == mask.shape and o.dtype == np.float32 and 0 <= o.min() and o.max() <= 1 for o in out)
    empty = [o.max() == 0 for o in out]
    assert 0.03 < np.mean(empty) < 0.2
    ious = [((o >= 0.5) & (mask > 0)).sum() / ((o >= 0.5) | (mask > 0)).sum() for o, e in zip(out, empty) if not e]
    assert np.median(ious) > 0.5 and np.mean(np.asarray(ious) > 0.99) < 0.2
    assert deform_mask(np.zeros_like(mask), rng).max() == 0


@pytest.mark.parametrize("carry", ["previous", "flow"])
def test_a_mask_prior_run_trains_and_tracks(tmp_path, carry):
    """plus.mask_prior: the decoder trains on (read, deformed previous ground truth) and tracks with the
    previous output as it is or carried by optical flow; a SavedModel keeps the previous output as a
    state and tracks as the tracker does ("previous"), and is refused by name for "flow"."""
    from pixtrack_tf.cli import export, train
    from pixtrack_tf.data import load_dataset
    from pixtrack_tf.runs import load_plus
    from pixtrack_tf.tracking.plus import SinglePlusTracker
    from pixtrack_tf.tracking.savedmodel import SavedModelTracker

    out = tmp_path / "run"
    argv = ["--config", "tiny", "--dataset", "embedded", "--num-sequences", "3", "--num-frames", "8", "--stage", "plus"]
    argv += ["--out", str(out), "--no-progress", "--set", "plus.steps=3", "--set", "plus.crop=32"]
    argv += ["--set", f"train.feature_store={tmp_path / 'store'}", "--set", f"plus.mask_prior={carry}"]
    assert train.main(argv) == 0
    log = [json.loads(line) for line in (out / "plus" / "log.jsonl").read_text().splitlines()]
    assert "iou_mask_prior" in log[-1]
    cfg, model = load_plus(out, ["track.precision=float32", "affinity.precision=float32"])
    assert cfg.plus.mask_prior == carry and model.decoder.prior_channels == 2
    seq = load_dataset("embedded", num_sequences=3, n_frames=8)[0]
    tr = SinglePlusTracker(cfg, model)
    tr.init(seq.frame(0), seq.mask(0))
    for i in range(1, 4):
        r = tr.track(seq.frame(i))
        assert r.prob.shape == seq.mask(0).shape and np.isfinite(r.prob).all()
        assert tuple(tr.previous.shape) == (1, *tr.size)  # the output kept for the next frame's prior
    sm_args = ["--run", str(out), "--out", str(tmp_path / "sm"), "--frame-size", f"{seq.size[1]}x{seq.size[0]}"]
    if carry == "flow":  # OpenCV's flow is not a TensorFlow op: refused by name
        assert export.main(sm_args) == 2
        return
    assert export.main(sm_args) == 0  # the previous output is one more state of the SavedModel
    sm = SavedModelTracker(tmp_path / "sm")
    tr = SinglePlusTracker(cfg, model)
    sm.init(seq.frame(0), seq.mask(0))
    tr.init(seq.frame(0), seq.mask(0))
    for i in range(1, 5):
        assert np.abs(sm.track(seq.frame(i)).prob - tr.track(seq.frame(i)).prob).max() < 1e-3


def test_mask_roi_boxes_the_previous_output_in_feature_cells():
    """plus.roi mask: the previous output's box in cells, grown by the margin and clipped to the grid;
    every object counts; an empty output gives the whole grid."""
    from pixtrack_tf.tracking.plus import MaskROI

    roi = MaskROI((160, 320), (10, 20), margin=2, context=2)  # 16 pixels a cell
    masks = np.zeros((2, 160, 320), np.float32)
    masks[0, 48:64, 96:128] = 0.9
    assert roi.box(masks) == (1, 6, 4, 10) and roi.share((1, 6, 4, 10)) == pytest.approx(30 / 200)
    masks[1, 150:160, 300:320] = 0.6  # a second object in the corner: the union, clipped
    assert roi.box(masks) == (1, 10, 4, 20)
    assert roi.box(masks * 0.4) == (0, 10, 0, 20)  # nothing >= 0.5: the whole grid
    assert roi.context((1, 6, 4, 10)) == (0, 8, 2, 12)
    assert MaskROI((160, 320), (10, 20), margin=2, context=1).context((1, 6, 4, 10)) == (0, 7, 3, 11)


@pytest.mark.parametrize("radius", [6, 1], ids=["one-tile", "tiles"])
def test_roi_mask_reads_and_refines_only_the_box(plus_run, radius):
    """plus.roi mask: with the box the whole grid it is the whole-frame tracker exactly (one tile, or
    the read's tiles at radius 1); with a box around part of the frame, the read and the output are
    zero beyond the box (and the output filter's reach), and the next box follows the output."""
    from pixtrack_tf.data import load_dataset
    from pixtrack_tf.runs import load_plus
    from pixtrack_tf.tracking.plus import SinglePlusTracker, filter_reach

    seq = load_dataset("embedded", num_sequences=4, n_frames=10)[1]
    fixed = ["track.precision=float32", "affinity.precision=float32", f"affinity.radius={radius}"]
    fixed += ["plus.guided_radius=3", "plus.guide=colour", "plus.guided_stride=2"]
    trs = {r: SinglePlusTracker(*load_plus(plus_run, fixed + [f"plus.roi={r}"])) for r in ("frame", "mask")}
    for tr in trs.values():
        tr.init(seq.frame(0), seq.mask(0))
    tr = trs["mask"]
    gh, gw = tr.roi.grid
    assert (tr.core.layout((gh, gw)).tiles > 1) == (radius == 1)
    tr.box = (0, gh, 0, gw)
    for a, b in zip(trs["frame"].read_and_refine(seq.frame(1)), tr.read_and_refine(seq.frame(1))):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert tr.roi_shares == [1.0]
    tr.box = box = (2, gh - 3, 3, gw - 6)
    read, refined = tr.read_and_refine(seq.frame(2))
    cy, cx = seq.size[0] / gh, seq.size[1] / gw  # pixels a cell
    outside = np.ones(seq.size, bool)  # beyond the box and the read's bilinear spread (one cell)
    outside[int((box[0] - 1) * cy) : int((box[1] + 1) * cy), int((box[2] - 1) * cx) : int((box[3] + 1) * cx)] = False
    assert read[0][outside].max() < 0.5
    m = filter_reach(tr.pcfg, int(cy / 2))  # the decoder's cell: stride 2 of the half-size frame
    y0, y1, x0, x1 = (
        max(0, int(box[0] * cy) - m),
        int(box[1] * cy) + m,
        max(0, int(box[2] * cx) - m),
        int(box[3] * cx) + m,
    )
    far = np.ones(seq.size, bool)
    far[y0:y1, x0:x1] = False
    assert far.any() and refined[0][far].max() == 0.0 and refined[0][~outside].max() > 0.5
    assert tr.box == tr.roi.box(refined) and tr.roi_shares[-1] == pytest.approx(tr.roi.share(box))
    assert tr.roi.margin == radius  # plus.roi_margin -1: affinity.radius
    box_settings = ["plus.roi=mask", "plus.roi_margin=2", "plus.roi_context=1"]
    margin = SinglePlusTracker(*load_plus(plus_run, fixed + box_settings))
    margin.init(seq.frame(0), seq.mask(0))
    assert margin.roi.margin == 2 and margin.roi.context((3, 5, 3, 5)) == (2, 6, 2, 6)


def test_upsample_bilinear_is_the_resize_for_sizes_known_late():
    """The decoder's upsampling for boxes whose size is known only when the graph runs gives what
    ops.image.resize gives for known sizes (factors 2 and 4; eager and in a graph of unknown shape)."""
    import tensorflow as tf
    from keras import ops

    from pixtrack_tf.models.plus import upsample_bilinear

    x = np.random.default_rng(0).uniform(size=(2, 5, 7, 3)).astype("float32")
    for f in (2, 4):
        want = np.asarray(ops.image.resize(x, (5 * f, 7 * f), interpolation="bilinear"))
        graph = tf.function(lambda t, f=f: upsample_bilinear(t, f), input_signature=[tf.TensorSpec((None,) * 3 + (3,))])
        for got in (upsample_bilinear(x, f), graph(x)):
            np.testing.assert_allclose(np.asarray(got), want, atol=1e-6)


def test_plus_bench_times_real_sequences_against_the_whole_frame(plus_run):
    """bench --plus --root: on sequences, the box (plus.roi mask) and the whole frame in turns, per
    sequence and over frames; the report's table has a row per sequence."""
    from pixtrack_tf.bench.plus import format_plus_sequences, plus_sequence_bench
    from pixtrack_tf.data import load_dataset

    seqs = load_dataset("embedded", num_sequences=4, n_frames=10)[:2]
    r = plus_sequence_bench(plus_run, seqs, "float32", ["plus.roi=mask"], max_frames=5)
    assert [row["frames"] for row in r["sequences"]] == [3, 3] and r["plus_roi"] == "mask"
    assert 0 < r["roi_share"] <= 1 and r["plus_roi_speedup"] == pytest.approx(r["plus_whole_frame_ms"] / r["plus_ms"])
    text = format_plus_sequences(r)
    assert text.count("\n| ") == 4 and "box is" in text  # header, rule, two sequences
    plain = plus_sequence_bench(plus_run, seqs[:1], "float32", max_frames=4)
    assert "plus_whole_frame_ms" not in plain and "box" not in format_plus_sequences(plain)


def test_keep_near_drops_components_away_from_the_previous_mask():
    """plus.components near: a component overlapping the previous mask dilated by a cell stays, one
    farther away goes to 0, pixels below 0.5 are untouched; an empty previous mask keeps everything."""
    from pixtrack_tf.tracking.plus import keep_near

    probs = np.full((2, 40, 60), 0.2, np.float32)
    probs[0, 5:10, 5:10] = 0.9  # overlaps the previous mask
    probs[0, 5:10, 12:16] = 0.8  # 4 px from it (a separate component): within a cell of 5
    probs[0, 30:35, 40:50] = 0.7  # far: dropped
    probs[1, 30:35, 40:50] = 0.7  # object 2 had no previous mask: kept
    previous = np.zeros((2, 40, 60), bool)
    previous[0, 4:9, 4:9] = True
    out = keep_near(probs, previous, cell=5)
    assert out[0, 7, 7] == np.float32(0.9) and out[0, 7, 13] == np.float32(0.8) and out[0, 32, 45] == 0.0
    assert out[0, 20, 20] == np.float32(0.2) and np.array_equal(out[1], probs[1])
    assert keep_near(probs, previous, cell=1)[0, 7, 13] == 0.0  # 4 px away is beyond a 1-px cell


def test_components_near_changes_only_the_reported_mask_and_the_box(plus_run):
    """The tracker with plus.components near reports keep_near of what it would report with "all" on the
    same read, remembering its own output as the previous mask."""
    from pixtrack_tf.data import load_dataset
    from pixtrack_tf.runs import load_plus
    from pixtrack_tf.tracking.plus import SinglePlusTracker, keep_near

    seq = load_dataset("embedded", num_sequences=4, n_frames=10)[1]
    fixed = ["track.precision=float32", "affinity.precision=float32"]
    trs = {c: SinglePlusTracker(*load_plus(plus_run, fixed + [f"plus.components={c}"])) for c in ("all", "near")}
    for tr in trs.values():
        tr.init(seq.frame(0), seq.mask(0))
    near = trs["near"]
    previous = near.previous_out.copy()
    (read_a, all_), (read_n, kept) = (tr.read_and_refine(seq.frame(1)) for tr in trs.values())
    np.testing.assert_allclose(read_a, read_n, atol=1e-6)
    np.testing.assert_allclose(kept, keep_near(all_, previous, near.cell), atol=1e-6)
    assert np.array_equal(near.previous_out, kept >= 0.5)


def test_affine_warp_moves_frame_read_and_truth_together_about_the_anchor():
    """plus.affine: one warp for every array; the anchor stays put; a square's area changes by the zoom
    squared within the strength's bounds; strength 0 is the identity."""
    from pixtrack_tf.ops.augment import affine_warp

    frame = np.zeros((64, 80, 3), np.float32)
    frame[20:40, 30:50] = 200.0
    read, gt = frame[..., :1] / 200.0, frame[..., 0] / 200.0
    for seed in range(5):
        f, r, g = affine_warp((frame, read, gt), (30, 40), 0.25, np.random.default_rng(seed))
        assert f.shape == frame.shape and r.shape == read.shape and g.shape == gt.shape
        np.testing.assert_allclose(f[..., 0] / 200.0, g, atol=1e-5)  # the same warp
        np.testing.assert_allclose(r[..., 0], g, atol=1e-5)
        assert g[30, 40] == pytest.approx(1.0)  # the anchor (inside the square) stays
        assert np.exp(-0.5) * 0.9 < g.sum() / gt.sum() < np.exp(0.5) * 1.1
    same = affine_warp((frame,), (30, 40), 0.0, np.random.default_rng(0))[0]
    np.testing.assert_allclose(same, frame, atol=1e-4)


def test_soft_jaccard_loss_by_hand_and_in_the_plus_task():
    """plus.loss=bce+iou (selection/RULE.md round 11): 1 - (sum p y + 1) / (sum (p + y - p y) + 1) per crop,
    added to the mean BCE; the default ``bce`` is the BCE alone."""
    import tensorflow as tf

    from pixtrack_tf.models.losses import soft_jaccard_loss
    from pixtrack_tf.training.plus import PlusTask

    y = np.zeros((3, 4, 4, 1), np.float32)
    y[0, :2, :2] = y[1, :2, :2] = 1.0
    logits = np.full_like(y, -30.0)
    logits[0, :2, :2] = 30.0  # the truth exactly; crop 1 empty against an object of 4; crop 2 empty on empty
    got = np.asarray(soft_jaccard_loss(logits, y))
    np.testing.assert_allclose(got, [0.0, 1.0 - 1.0 / 5.0, 0.0], atol=1e-6)
    half = np.zeros_like(y[:1])  # p = 1/2 everywhere: (2 + 1) / (16 * 1/2 + 4 - 2 + 1) = 3 / 11
    np.testing.assert_allclose(np.asarray(soft_jaccard_loss(half, y[:1])), [1.0 - 3.0 / 11.0], atol=1e-6)

    rng = np.random.default_rng(0)
    batch = {
        "frame": tf.constant(rng.uniform(0, 255, (2, 32, 32, 3)), tf.float32),
        "prior": tf.constant(rng.uniform(0, 1, (2, 32, 32, 1)), tf.float32),
        "gt": tf.constant(rng.uniform(0, 1, (2, 32, 32, 1)) > 0.7, tf.float32),
    }
    losses = {}
    for loss in ("bce", "bce+iou"):
        task = PlusTask(load_config("tiny", ["plus.crop=32", f"plus.loss={loss}"]), [], {})
        losses[loss], extras = task.per_example_loss(task.build_model(), batch, training=False)
    bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=batch["gt"], logits=extras["logits"])
    bce = tf.reduce_mean(bce, [1, 2, 3])
    np.testing.assert_allclose(np.asarray(losses["bce"]), np.asarray(bce), rtol=1e-5)
    extra = np.asarray(soft_jaccard_loss(extras["logits"], batch["gt"]))
    assert extra.min() > 0.1  # an untrained decoder on random truth is far from it
    np.testing.assert_allclose(np.asarray(losses["bce+iou"]), np.asarray(bce) + extra, rtol=1e-5)


def test_plus_threshold_reports_t_as_one_half(plus_run):
    """plus.threshold t (selection/RULE.md round 12): the reported output is sigmoid(logit p - logit t) of
    what t = 0.5 reports on the same read, so the mask at 0.5 is the default's at t; 0.5 changes nothing."""
    from pixtrack_tf.data import load_dataset
    from pixtrack_tf.runs import load_plus
    from pixtrack_tf.tracking.plus import SinglePlusTracker, report_threshold

    p = np.linspace(0.0, 1.0, 101, dtype=np.float32)
    for t in (0.3, 0.5, 0.65):
        q = np.asarray(report_threshold(p, t))
        assert np.all(np.diff(q) > 0) if t != 0.5 else np.array_equal(q, p)
        assert np.array_equal(q > 0.5, p > t + 1e-6) and abs(q[0]) < 1e-5 and abs(q[-1] - 1) < 1e-5
    seq = load_dataset("embedded", num_sequences=4, n_frames=10)[1]
    fixed = ["track.precision=float32", "affinity.precision=float32", "plus.guided_radius=4"]
    out = {}
    for t in (0.5, 0.3):
        tr = SinglePlusTracker(*load_plus(plus_run, fixed + [f"plus.threshold={t}"]))
        tr.init(seq.frame(0), seq.mask(0))
        out[t] = tr.read_and_refine(seq.frame(1))
    np.testing.assert_allclose(out[0.5][0], out[0.3][0], atol=1e-6)  # the read: the memory is the same
    np.testing.assert_allclose(out[0.3][1], np.asarray(report_threshold(out[0.5][1], 0.3)), atol=1e-5)
    assert ((out[0.3][1] >= 0.5) != (out[0.5][1] >= 0.5)).any()
