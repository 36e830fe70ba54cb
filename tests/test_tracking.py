"""Algorithm 1 and the baselines as trackers, the raw-results evaluator, and reproduce end to end."""

import json

import keras
import numpy as np
import pytest
from PIL import Image

from pixtrack_tf.config import load_config
from pixtrack_tf.data.readers import read_folder
from pixtrack_tf.data.sequence import DataError
from pixtrack_tf.evaluation import evaluator
from pixtrack_tf.evaluation.protocol import run_clips, sample_clips
from pixtrack_tf.models import FCNModel, GlobalModel, LocalModel
from pixtrack_tf.tracking import GroundTruthRoiTracker, OneStageTracker, TwoStageTracker, centroid, initial_box
from pixtrack_tf.tracking.common import track_sequence


@pytest.fixture(scope="module")
def models(tiny_cfg):
    return LocalModel.from_cfg(tiny_cfg), GlobalModel.from_cfg(tiny_cfg), FCNModel.from_cfg(tiny_cfg)


def _leaving_sequence(root, n=10):
    """A square that moves right and leaves the frame half-way."""
    (root / "f").mkdir()
    (root / "m").mkdir()
    for t in range(n):
        img = np.full((60, 80, 3), 40, np.uint8)
        m = np.zeros((60, 80), np.uint8)
        x = 30 + 12 * t
        img[20:32, x : x + 12] = 230
        m[20:32, x : x + 12] = 255
        Image.fromarray(img).save(root / "f" / f"{t:05d}.png")
        Image.fromarray(m).save(root / "m" / f"{t:05d}.png")
    return read_folder(root / "f", root / "m", name="leaving")


def test_initial_box_rule():
    m = np.zeros((100, 200), bool)
    m[40:60, 50:90] = True  # 40 x 20 -> side 80
    np.testing.assert_allclose(initial_box(m, 2.0, 56, 672), [30, 10, 110, 90])
    with pytest.raises(DataError, match="empty"):
        initial_box(np.zeros((5, 5), bool), 2.0, 56, 672)


def test_centroid_eq5():
    p = np.zeros((10, 20))
    p[2, 4] = 1.0
    p[6, 14] = 3.0
    cx, cy = centroid(p)
    assert abs(cx - (4.5 * 1 + 14.5 * 3) / 4) < 1e-9 and abs(cy - (2.5 + 6.5 * 3) / 4) < 1e-9
    assert centroid(np.zeros((4, 4))) is None


def test_trackers_survive_object_leaving_and_empty_predictions(tmp_path, tiny_cfg, models):
    lm, gm, fcn = models
    seq = _leaving_sequence(tmp_path)
    lm_empty = LocalModel.from_cfg(tiny_cfg)
    lm_empty.decoder.deconvs[-1].bias.assign([-50.0])  # every prediction empty
    trackers = [
        TwoStageTracker(lm, gm, tiny_cfg),
        OneStageTracker(lm_empty, tiny_cfg),
        OneStageTracker(fcn, tiny_cfg),
        GroundTruthRoiTracker(lm, tiny_cfg, [seq.mask(i) for i in range(len(seq))]),
    ]
    for tr in trackers:
        out = track_sequence(tr, seq, keep_full=True)
        assert np.all(np.isfinite(out["boxes"])), type(tr).__name__
        assert all(np.all(np.isfinite(p)) and p.shape == (60, 80) for p in out["full"])
    # the 1-stage tracker with empty predictions keeps the first ROI centre
    out = track_sequence(OneStageTracker(lm_empty, tiny_cfg), seq)
    np.testing.assert_allclose(out["boxes"][-1], out["boxes"][0])


def test_two_stage_is_algorithm1_and_traces_once(tiny_cfg, models, small_seq):
    import tensorflow as tf

    from pixtrack_tf.data.sequence import mask_box
    from pixtrack_tf.layers.transformer import mass_centre
    from pixtrack_tf.ops.roi import box_to_theta, roi_around
    from pixtrack_tf.tracking.algorithm1 import roi_crop_box

    lm, gm, _ = models
    tr = TwoStageTracker(lm, gm, tiny_cfg)
    out = track_sequence(tr, small_seq, indices=range(6))
    assert tr._step_fn.experimental_get_tracing_count() == 1  # no retrace per frame
    h, w = small_seq.size
    b, i, anchor = tiny_cfg.track.beta, tiny_cfg.train.loss_from, tiny_cfg.global_.anchor_size[0]
    mask0 = small_seq.mask(0)
    # theta_0: the square around the object; the first ROI: the Sec. 3.3 ROI around it
    theta = box_to_theta(roi_around(mask_box(mask0), 1.0, 0, np.inf)[None], np.array([h, w]), anchor).numpy()[0]
    np.testing.assert_allclose(
        out["boxes"][0], roi_around(mask_box(mask0), 2.0, tiny_cfg.data.roi_min, tiny_cfg.data.roi_max), atol=1e-4
    )
    # t < i (burn-in): theta_t = (theta_old's scale, Eq. 5 on Z_hat_{t-1}); then the global model's
    # theta, (sqrt(s_min s_max), 0, 0) for the untrained one (FC 3 starts at zero)
    lo, hi = tiny_cfg.global_.scale_range
    assert i == 2  # one burn-in frame, which reads Z_0 (the given mask)
    prev_map = tf.image.resize(mask0.astype(np.float32)[None, :, :, None], [tiny_cfg.global_.map_size] * 2)
    for t in range(1, 6):
        if t < i:
            centre, _ = mass_centre(prev_map)
            theta_t = np.concatenate([theta[:1], centre.numpy()[0]])
        else:
            theta_t = np.array([np.sqrt(lo * hi), 0.0, 0.0])
        theta = b * theta_t + (1 - b) * theta
        np.testing.assert_allclose(
            out["boxes"][t], roi_crop_box(tiny_cfg, theta[None], tf.constant([h, w])).numpy()[0], atol=1e-3
        )
    np.testing.assert_allclose(tr.theta, theta, atol=1e-4)
    assert tr.resized_map.shape == (tiny_cfg.global_.map_size,) * 2


@pytest.fixture(scope="module")
def small_seq(tmp_path_factory):
    from pixtrack_tf.data.embedded import load_embedded

    return load_embedded(seed=3, num_sequences=2, n_frames=20, cache_dir=tmp_path_factory.mktemp("emb"))[0]


class _Oracle:
    """A perfect (or empty) tracker for testing the evaluator."""

    def __init__(self, seq, clip, empty=False):
        self.masks = [seq.mask(i) for i in clip.indices]
        self.empty = empty

    def init(self, frame, mask):
        from pixtrack_tf.tracking import TrackResult

        self.t = 0
        return TrackResult(mask.astype(np.float32), np.zeros(4, np.float32))

    def track(self, frame):
        from pixtrack_tf.tracking import TrackResult

        self.t += 1
        m = np.zeros_like(self.masks[self.t], np.float32) if self.empty else self.masks[self.t].astype(np.float32)
        return TrackResult(m, np.zeros(4, np.float32))


def test_evaluator_perfect_and_empty_trackers(tmp_path, small_seq):
    clips = sample_clips([small_seq], lengths=(5, 30), per_sequence=2, seed=0)
    assert {c.length for c in clips} == {5, 30} and all(len(c.indices) == c.length for c in clips)
    assert any(len(set(c.indices)) < c.length for c in clips if c.length == 30)  # stretched: 30 > frames
    run_clips("perfect", lambda s, c: _Oracle(s, c), clips, [small_seq], tmp_path, progress=False)
    run_clips("empty", lambda s, c: _Oracle(s, c, empty=True), clips, [small_seq], tmp_path, progress=False)
    for name, expected in (("perfect", 1.0), ("empty", 0.0)):
        res = evaluator.evaluate_method(tmp_path / name, [small_seq], (0.4, 0.7), davis=True)
        rows = evaluator.iou_rows(name, res, (0.4, 0.7), (5, 30))
        assert len(rows) == 4 and all(abs(r["iou"] - expected) < 1e-9 for r in rows)
        assert abs(evaluator.davis_rows(name, res)["J_mean"] - expected) < 1e-9
    # raw results are kept: a second run tracks nothing again
    calls = []
    run_clips("perfect", lambda s, c: calls.append(1) or _Oracle(s, c), clips, [small_seq], tmp_path, progress=False)
    assert not calls


def test_reproduce_end_to_end_quick(tmp_path):
    from pixtrack_tf.cli import reproduce

    assert reproduce.main(["--table", "3", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    doc = json.loads((tmp_path / "table3.json").read_text())
    ours = [r for r in doc["rows"] if r["source"] == "ours"]
    theirs = [r for r in doc["rows"] if r["source"] == "paper"]
    refs = {"First mask (reference)", "Optical flow (reference)", "Feature affinity (reference)"}
    assert {r["method"] for r in ours} == {"2-stage ConvLSTM", "1-stage ConvLSTM", "FCN"} | refs
    assert {r["method"] for r in doc["roi"]} == {"2-stage ConvLSTM", "1-stage ConvLSTM", "FCN"} | refs
    assert {(r["threshold"], r["length"]) for r in ours} == {(t, L) for t in (0.4, 0.7) for L in (4, 8)}
    assert all(0 <= r["iou"] <= 1 for r in ours) and len(theirs) == 24
    assert {"method", "threshold", "length", "iou"} <= set(ours[0])
    assert doc["provenance"]["commit"] and doc["data"]["dataset"] == "embedded"
    md = (tmp_path / "table3.md").read_text()
    assert "NOT VOT2016" in md
    for f in ("table3_roc.png", "table3_iou_per_frame.png", "table3_overlays.png", "table3_roi_follow.png"):
        assert (tmp_path / f).stat().st_size > 1000
    # table 2 reuses the trained fold
    assert reproduce.main(["--table", "2", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    doc2 = json.loads((tmp_path / "table2.json").read_text())
    assert {r["method"] for r in doc2["rows"] if r["source"] == "ours"} == {"ConvLSTM", "FCN"} | refs
    # the reference trackers alone: nothing is trained
    refs_only = tmp_path / "refs"
    assert (
        reproduce.main(
            ["--table", "3", "--quick", "--out", str(refs_only), "--no-progress", "--methods", ",".join(sorted(refs))]
        )
        == 0
    )
    assert not (refs_only / "runs").exists()
    assert {
        r["method"] for r in json.loads((refs_only / "table3.json").read_text())["rows"] if r["source"] == "ours"
    } == refs
    # a subset of methods, plus DAVIS J and F on whole sequences
    assert (
        reproduce.main(
            [
                "--table",
                "3",
                "--quick",
                "--out",
                str(tmp_path),
                "--no-progress",
                "--methods",
                "2-stage ConvLSTM",
                "--davis-measures",
            ]
        )
        == 0
    )
    doc3 = json.loads((tmp_path / "table3.json").read_text())
    assert [r["method"] for r in doc3["davis"]] == ["2-stage ConvLSTM"]
    assert {"J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay"} <= set(doc3["davis"][0])
    assert (tmp_path / "davis_lowest_J.png").exists()  # the failure cases, lowest J first
    assert "davis_lowest_J.png" in (tmp_path / "table3.md").read_text()
    assert reproduce.main(["--table", "3", "--quick", "--out", str(tmp_path), "--methods", "nope"]) == 2
    # whole sequences alone (--clips 0): DAVIS J and F, no protocol clips; --clips 0 needs --davis-measures
    only = ["--table", "3", "--quick", "--out", str(tmp_path / "whole"), "--no-progress", "--clips", "0"]
    assert reproduce.main(only + ["--methods", "First mask (reference)", "--davis-measures"]) == 0
    whole = json.loads((tmp_path / "whole" / "table3.json").read_text())
    assert not [r for r in whole["rows"] if r["source"] == "ours"] and whole["davis"][0]["J_mean"] > 0
    assert not (tmp_path / "whole" / "raw").exists()
    with pytest.raises(SystemExit):
        reproduce.main(only)
    # a different seed gives different numbers (nothing is typed in)
    other = tmp_path / "seed1"
    assert reproduce.main(["--table", "3", "--quick", "--out", str(other), "--no-progress", "--set", "seed=1"]) == 0
    a = sorted((r["method"], r["threshold"], r["length"], r["iou"]) for r in ours)
    b = sorted(
        (r["method"], r["threshold"], r["length"], r["iou"])
        for r in json.loads((other / "table3.json").read_text())["rows"]
        if r["source"] == "ours"
    )
    assert a != b


def test_bfloat16_tracking_follows_float32(tmp_path, tiny_cfg, models, small_seq):
    """track.precision = bfloat16 builds mixed_bfloat16 models from the same weights; the tracker
    keeps its float32 signatures (one trace) and its maps stay close to float32's."""
    import dataclasses

    from pixtrack_tf.config import ConfigError, load_config
    from pixtrack_tf.runs import load_trained

    lm, gm, _ = models
    lm.save_weights(tmp_path / "l.weights.h5")
    gm.save_weights(tmp_path / "g.weights.h5")
    bf = dataclasses.replace(tiny_cfg, track=dataclasses.replace(tiny_cfg.track, precision="bfloat16"))
    lm16, gm16 = (
        load_trained(LocalModel, bf, tmp_path / "l.weights.h5"),
        load_trained(GlobalModel, bf, tmp_path / "g.weights.h5"),
    )
    assert lm16.compute_dtype == "bfloat16" and lm16.fcnn[0].compute_dtype == "bfloat16"
    assert lm16.variable_dtype == "float32"
    assert LocalModel.from_cfg(tiny_cfg).compute_dtype == "float32"  # the policy did not leak
    ref = track_sequence(TwoStageTracker(lm, gm, tiny_cfg), small_seq, indices=range(6), keep_full=True)
    tr = TwoStageTracker(lm16, gm16, bf)
    out = track_sequence(tr, small_seq, indices=range(6), keep_full=True)
    assert tr._step_fn.experimental_get_tracing_count() == 1
    diff = max(float(np.abs(a - b).max()) for a, b in zip(ref["full"], out["full"]))
    assert 0 < diff < 0.05  # bfloat16 really ran, and stays near float32
    np.testing.assert_allclose(out["boxes"], ref["boxes"], atol=2.0)
    with pytest.raises(ConfigError, match="track.precision"):
        load_config("tiny", ["track.precision=float16"])
    # the bundled HED weights load into a bfloat16 model too; every sub-layer carries the model's policy
    hed16 = LocalModel.from_cfg(load_config("tiny", ["backbone.weights=hed"]), dtype="mixed_bfloat16")
    assert hed16.compute_dtype == "bfloat16" and hed16.backbone.convs[0].kernel.dtype == "float32"
    assert hed16.backbone.convs[0].compute_dtype == "bfloat16" and hed16.lstm1.cell.compute_dtype == "bfloat16"
    assert hed16.decoder.deconvs[-1].compute_dtype == "bfloat16"
    assert keras.config.dtype_policy().name == "float32"  # no global switch


def test_multi_object_step_equals_single_trackers(tiny_cfg, models, small_seq):
    """N objects in one batched step give what N separate two-stage trackers give; one trace for any N."""
    from pixtrack_tf.tracking import MultiObjectTracker

    lm, gm, _ = models
    m0 = small_seq.mask(0)
    other = np.zeros_like(m0)  # a second "object": a patch away from the first
    other[: m0.shape[0] // 4, : m0.shape[1] // 4] = True
    masks = [m0, other]
    multi = MultiObjectTracker(lm, gm, tiny_cfg)
    multi.init(small_seq.frame(0), masks)
    outs = [multi.track(small_seq.frame(i)) for i in range(1, 5)]
    for k, mk in enumerate(masks):
        single = TwoStageTracker(lm, gm, tiny_cfg)
        single.init(small_seq.frame(0), mk)
        for i in range(1, 5):
            r = single.track(small_seq.frame(i))
            np.testing.assert_allclose(outs[i - 1][k].prob, r.prob, atol=1e-5)
            np.testing.assert_allclose(outs[i - 1][k].box, r.box, atol=1e-3)
    multi.init(small_seq.frame(0), masks + [m0])  # three objects: same compiled step
    assert len(multi.track(small_seq.frame(1))) == 3
    assert multi._step_fn.experimental_get_tracing_count() == 1
    with pytest.raises(DataError, match="mask 1 is empty"):
        multi.init(small_seq.frame(0), [m0, np.zeros_like(m0)])


def test_reproduce_table2_from_a_local_only_run_and_a_separate_fcn_run(tmp_path):
    """The ablations' path: train --stage local / --stage fcn, then reproduce --table 2 --run --fcn."""
    from pixtrack_tf.cli import reproduce, train

    base = [
        "--config",
        "tiny",
        "--dataset",
        "embedded",
        "--num-sequences",
        "4",
        "--num-frames",
        "12",
        "--no-progress",
        "--set",
        "train.local_steps=2",
    ]
    assert (
        train.main(base + ["--out", str(tmp_path / "lstm"), "--stage", "local", "--set", "local.peepholes=false"]) == 0
    )
    assert train.main(base + ["--out", str(tmp_path / "fcnrun"), "--stage", "fcn"]) == 0
    assert (tmp_path / "fcnrun" / "fcn" / "model.weights.h5").exists()
    out = tmp_path / "t2"
    args = ["--table", "2", "--quick", "--out", str(out), "--no-progress", "--run", str(tmp_path / "lstm")]
    assert reproduce.main(args + ["--fcn", str(tmp_path / "nowhere")]) == 2  # named, not trained silently
    assert reproduce.main(args + ["--fcn", str(tmp_path / "fcnrun")]) == 0
    doc = json.loads((out / "table2.json").read_text())
    assert {r["method"] for r in doc["rows"] if r["source"] == "ours"} == {
        "ConvLSTM",
        "FCN",
        "First mask (reference)",
        "Optical flow (reference)",
        "Feature affinity (reference)",
    }
    assert doc["config"]["local"]["peepholes"] is False  # the run's own config
    assert doc["provenance"]["models"] == {"run": str(tmp_path / "lstm"), "fcn_run": str(tmp_path / "fcnrun")}
    # the FCN alone from an FCN-only run (it needed a local model before)
    only = ["--table", "2", "--quick", "--out", str(tmp_path / "t2fcn"), "--no-progress", "--methods", "FCN"]
    assert reproduce.main(only + ["--run", str(tmp_path / "fcnrun")]) == 0
    # a local-only run cannot give the two-stage tracker: a clear error, not a crash
    assert (
        reproduce.main(
            [
                "--table",
                "3",
                "--quick",
                "--out",
                str(out),
                "--no-progress",
                "--run",
                str(tmp_path / "lstm"),
                "--methods",
                "2-stage ConvLSTM",
            ]
        )
        == 2
    )


def test_two_stage_holds_its_roi_on_an_empty_map(tmp_path, tiny_cfg, models):
    """track.hold_empty: once the local model predicts nothing, theta stays theta_old (the ROI does
    not move); as written (hold_empty=false) the global model's theta moves it."""
    import dataclasses

    lm, gm, _ = models
    seq = _leaving_sequence(tmp_path)
    lm_empty = LocalModel.from_cfg(tiny_cfg)
    lm_empty.decoder.deconvs[-1].bias.assign([-50.0])  # every prediction empty
    held = track_sequence(TwoStageTracker(lm_empty, gm, tiny_cfg), seq)["boxes"]
    # frame 1 reads Z_0 (the given mask), then every map is empty: the ROI of frame 1 stays
    np.testing.assert_allclose(held[2:], np.repeat(held[1:2], len(held) - 2, axis=0), atol=1e-4)
    cfg = dataclasses.replace(tiny_cfg, track=dataclasses.replace(tiny_cfg.track, hold_empty=False))
    moved = track_sequence(TwoStageTracker(lm_empty, gm, cfg), seq)["boxes"]
    assert np.abs(moved[-1] - moved[1]).max() > 1.0


def test_search_growth_widens_the_roi_around_the_held_centre_while_nothing_is_seen(tmp_path, tiny_cfg, models):
    """track.search_growth g: while every prediction is empty, the 2-stage and the 1-stage ROIs keep
    their centre and their side grows (by g per frame for the 1-stage, up to data.roi_max); with
    g = 1 (the default) they stay as they were."""
    import dataclasses

    lm, gm, _ = models
    seq = _leaving_sequence(tmp_path)
    lm_empty = LocalModel.from_cfg(tiny_cfg)
    lm_empty.decoder.deconvs[-1].bias.assign([-50.0])  # every prediction empty
    cfg = dataclasses.replace(tiny_cfg, track=dataclasses.replace(tiny_cfg.track, search_growth=1.5))

    def sides_and_centres(boxes):
        b = np.asarray(boxes)
        return b[:, 2] - b[:, 0], (b[:, :2] + b[:, 2:]) / 2

    side, centre = sides_and_centres(track_sequence(TwoStageTracker(lm_empty, gm, cfg), seq)["boxes"])
    np.testing.assert_allclose(centre[2:], np.repeat(centre[1:2], len(centre) - 2, axis=0), atol=1e-3)
    assert np.all(np.diff(side[1:]) >= -1e-3) and side[-1] > 1.4 * side[1]
    side, centre = sides_and_centres(track_sequence(OneStageTracker(lm_empty, cfg), seq)["boxes"])
    # frame 1 follows the given first mask; from frame 2 on, every previous prediction is empty
    expected = np.minimum(side[0] * 1.5 ** np.maximum(np.arange(len(side)) - 1, 0), cfg.data.roi_max)
    np.testing.assert_allclose(side, expected, rtol=1e-4)
    np.testing.assert_allclose(centre, np.repeat(centre[:1], len(centre), axis=0), atol=1e-3)
    side, _ = sides_and_centres(track_sequence(OneStageTracker(lm_empty, tiny_cfg), seq)["boxes"])
    np.testing.assert_allclose(side, side[0])
    with pytest.raises(Exception, match="search_growth"):
        load_config("tiny", ["track.search_growth=0.5"])


def test_reproduce_refuses_a_fold_count_outside_1_to_10(capsys):
    """--folds 0 (also what ``--fold 0`` abbreviates to) used to crash with an IndexError after
    loading the data; it is a usage error naming the option."""
    from pixtrack_tf.cli import reproduce

    for bad in (["--folds", "0"], ["--fold", "0"], ["--folds", "11"]):
        with pytest.raises(SystemExit) as e:
            reproduce.main(["--table", "3", *bad])
        assert e.value.code == 2
        assert "--folds is how many of the 10 folds" in capsys.readouterr().err


def test_shifted_copies_of_the_first_roi():
    """track.finetune_shift's boxes: the first is the ROI itself, the others squares moved by at most
    the shift (a fraction of the side) and scaled within data.scale_jitter; shift 0 = the ROI alone."""
    from pixtrack_tf.tracking.common import shifted_copies

    box = np.array([20.0, 40.0, 80.0, 100.0])  # side 60, centre (50, 70)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(shifted_copies(box, 8, 0.0, 0.1, rng), box[None])
    c = shifted_copies(box, 200, 0.25, 0.1, rng)
    assert c.shape == (200, 4) and c.dtype == np.float32
    np.testing.assert_array_equal(c[0], box)
    side = c[:, 2] - c[:, 0]
    np.testing.assert_allclose(side, c[:, 3] - c[:, 1], rtol=1e-5)  # square
    assert side.min() >= 54 - 1e-3 and side.max() <= 66 + 1e-3 and side.std() > 1
    centre = (c[:, :2] + c[:, 2:]) / 2 - [50, 70]
    assert np.abs(centre).max() <= 15 + 1e-3 and np.abs(centre).max() > 12  # up to 0.25 x 60 px, both ways
    assert (centre[:, 0] < -5).any() and (centre[:, 1] > 5).any()


@pytest.mark.parametrize("kind", ["ConvLSTM", "FCN"])
def test_finetuning_on_shifted_copies_learns_the_object_not_the_roi_centre(kind):
    """Fine-tuned on the first ROI alone, a segmenter learns where the object sat (the ROI's centre):
    shift the ROI by 0.15 of its side over the same frame and its mask moves with the ROI (the embedded
    benchmark's local model: 0.6-0.7 of a 1/16-side shift, 0.03-0.1 before fine-tuning). Fine-tuned on
    shifted copies (track.finetune_shift) the mask stays on the object. HED backbone, ROI 64; ratio =
    shift of the mask's centroid (Eq. 5) in the frame / shift of the ROI: 1 = stuck to the ROI."""
    from dataclasses import replace

    from pixtrack_tf.tracking.segmenters import as_segmenter

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 90, (96, 96, 3)).astype(np.uint8)
    mask = np.zeros((96, 96), bool)
    mask[42:54, 42:54] = True
    frame[mask] = (230, 200, 60)
    base = load_config("tiny", ["backbone.weights=hed", "local.roi_size=64"])
    box = initial_box(mask, base.data.roi_context, base.data.roi_min, base.data.roi_max)
    side = box[2] - box[0]

    def ratio(shift):
        track = replace(base.track, local_finetune_steps=150, local_finetune_lr=3e-3, finetune_shift=shift)
        cfg = replace(base, track=replace(track, fcn_finetune_steps=150, fcn_finetune_lr=3e-3))
        keras.utils.set_random_seed(0)
        seg = as_segmenter(LocalModel.from_cfg(cfg) if kind == "ConvLSTM" else FCNModel.from_cfg(cfg), cfg)
        seg.init(frame, mask, box)
        memory = getattr(seg, "states", None)
        x0 = centroid(seg.segment(frame, box))[0]
        out = []
        for f in (-0.15, 0.15):
            seg.states = memory  # each shifted ROI as the first step after the memory
            out.append((centroid(seg.segment(frame, box + np.array([f * side, 0, f * side, 0])))[0] - x0) / (f * side))
        return float(np.mean(out)), seg.init_info

    plain, info = ratio(0.0)
    shifted, info_shifted = ratio(0.2)
    assert info["finetune_iou_after"] > 0.9 and info_shifted["finetune_iou_after"] > 0.8  # both learned the object
    assert plain > 0.5, plain  # the plain fine-tuning's mask goes with the ROI
    assert shifted < plain - 0.3, (plain, shifted)


@pytest.mark.parametrize("kind", ["ConvLSTM", "FCN"])
def test_first_roi_finetuning_adapts_and_every_clip_starts_from_the_trained_weights(tmp_path, tiny_cfg, kind):
    """FirstRoiTuning (the FCN's Sec. 3.4 fine-tuning; track.local_finetune_steps for the local model):
    the first ROI's IoU rises, the weights are the trained ones again at the next clip, off = paper."""
    from dataclasses import replace

    from pixtrack_tf.tracking.common import crop_first_roi, init_local_states
    from pixtrack_tf.tracking.segmenters import as_segmenter

    seq = _leaving_sequence(tmp_path)
    frame, mask = seq.frame(0), seq.mask(0)
    box = initial_box(mask, tiny_cfg.data.roi_context, tiny_cfg.data.roi_min, tiny_cfg.data.roi_max)
    track = replace(tiny_cfg.track, local_finetune_steps=40, local_finetune_lr=1e-2)
    track = replace(track, fcn_finetune_steps=40, fcn_finetune_lr=1e-2)
    cfg = replace(tiny_cfg, track=track)
    keras.utils.set_random_seed(0)
    model = LocalModel.from_cfg(cfg) if kind == "ConvLSTM" else FCNModel.from_cfg(cfg)
    trained = [np.asarray(v) for v in model.head_variables()]
    seg = as_segmenter(model, cfg)
    other = as_segmenter(model, cfg)  # a second tracker on the same model (Table 3's 2-stage and 1-stage)
    seg.init(frame, mask, box)
    first = dict(seg.init_info)
    assert first["finetune_iou_after"] > max(first["finetune_iou_before"] + 0.2, 0.5), first
    tuned = [np.asarray(v) for v in seg.tuning.variables]
    assert max(float(np.abs(a - b).max()) for a, b in zip(tuned, trained)) > 1e-3  # the copies moved
    for v, w in zip(model.head_variables(), trained):  # the model's own weights did not
        np.testing.assert_array_equal(np.asarray(v), w)
    # the segmentation uses the tuned copies: the first ROI segmented as the tuning measured it
    prob = seg.segment(frame, box)
    other.init(frame, mask, box)  # the other tracker starts from the trained weights, not seg's copies
    assert other.init_info["finetune_iou_before"] == pytest.approx(first["finetune_iou_before"])
    seg.init(frame, mask, box)  # a second clip: from the trained weights and a fresh optimizer again
    assert seg.init_info["finetune_iou_before"] == pytest.approx(first["finetune_iou_before"])
    assert seg.init_info["finetune_iou_after"] == pytest.approx(first["finetune_iou_after"], abs=1e-4)
    untuned = as_segmenter(model, tiny_cfg) if kind == "ConvLSTM" else None
    if kind == "FCN":  # the same frame through the trained weights gives another map
        untuned = as_segmenter(model, replace(tiny_cfg, track=replace(tiny_cfg.track, fcn_finetune_steps=0)))
    untuned.init(frame, mask, box)
    assert np.abs(untuned.segment(frame, box) - prob).max() > 0.05
    if kind == "ConvLSTM":  # off (the paper): the memory is M-CNN's from the trained weights, nothing else
        plain = as_segmenter(model, tiny_cfg)
        plain.init(frame, mask, box)
        assert plain.init_info == {}
        x0, z0 = crop_first_roi(frame, mask.astype(np.float32), box.astype(np.float32), tiny_cfg.local.roi_size)
        for a, b in zip(plain.states, init_local_states(model, tiny_cfg, x0, z0)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)
