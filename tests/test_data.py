"""Readers, the embedded benchmark, splits and the tf.data pipelines of Sec. 3.3 and Sec. 4."""

import dataclasses

import numpy as np
import pytest
from PIL import Image

from pixtrack_tf.config import load_config
from pixtrack_tf.data import DataError, load_dataset, read_davis, read_folder, read_mask, read_video, read_vot
from pixtrack_tf.data.embedded import generate_sequence, load_embedded
from pixtrack_tf.data.pipelines import (
    LocalSampler,
    clip_indices,
    dilation_kernel,
    global_dataset,
    global_dataset_from_predictions,
    local_dataset,
)
from pixtrack_tf.data.splits import halves, ten_folds


# -- fixtures -------------------------------------------------------------------------------------
def _write_square_sequence(root, n=12, hw=(120, 160), side=20, step=3, name="sq"):
    """A bright square moving right by `step` px per frame on a dark frame."""
    fdir, mdir = root / name / "frames", root / name / "masks"
    fdir.mkdir(parents=True)
    mdir.mkdir(parents=True)
    h, w = hw
    for t in range(n):
        x0, y0 = 10 + step * t, 40
        img = np.full((h, w, 3), 30, np.uint8)
        img[y0 : y0 + side, x0 : x0 + side] = 220
        m = np.zeros((h, w), np.uint8)
        m[y0 : y0 + side, x0 : x0 + side] = 255
        Image.fromarray(img).save(fdir / f"{t:05d}.jpg", quality=95)
        Image.fromarray(m).save(mdir / f"{t:05d}.png")
    return read_folder(fdir, mdir, name=name)


@pytest.fixture(scope="module")
def square_seqs(tmp_path_factory):
    root = tmp_path_factory.mktemp("squares")
    return [_write_square_sequence(root, name="a"), _write_square_sequence(root, name="b", step=2)]


@pytest.fixture(scope="module")
def small_embedded(tmp_path_factory):
    return load_embedded(seed=1, num_sequences=4, n_frames=20, cache_dir=tmp_path_factory.mktemp("cache"))


# -- readers --------------------------------------------------------------------------------------
def test_davis_reader_real_data(davis_root):
    train, val = read_davis(davis_root, "train"), read_davis(davis_root, "val")
    assert len(train) == 30 and len(val) == 14
    assert not {s.name for s in train} & {s.name for s in val}
    seq = val[0]
    f, m = seq.frame(0), seq.mask(0)
    assert f.shape == (480, 854, 3) and f.dtype == np.uint8
    assert m.shape == (480, 854) and m.dtype == bool and 0 < m.mean() < 0.9
    assert seq.validate(min_frames=2) is seq


def test_mask_encodings_read_as_binary(tmp_path):
    ref = np.zeros((10, 12), bool)
    ref[2:6, 3:9] = True
    Image.fromarray(ref.astype(np.uint8)).save(tmp_path / "01.png")
    Image.fromarray(ref.astype(np.uint8) * 255).save(tmp_path / "0255.png")
    pal = Image.fromarray(ref.astype(np.uint8) * 3).convert("P")  # palette index 3 = object
    pal.putpalette([0, 0, 0, 10, 10, 10, 20, 20, 20, 200, 0, 0] + [0] * 756)
    pal.save(tmp_path / "pal.png")
    assert Image.open(tmp_path / "pal.png").mode == "P"
    rgb = np.zeros((10, 12, 3), np.uint8)
    rgb[ref] = (128, 0, 0)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    for name in ("01.png", "0255.png", "pal.png", "rgb.png"):
        np.testing.assert_array_equal(read_mask(tmp_path / name), ref, err_msg=name)


def _write_vot(root, n=5, mask_start=0):
    seq = root / "ball"
    (seq / "masks").mkdir(parents=True)
    (root / "list.txt").write_text("ball\n")
    lines = []
    for i in range(1, n + 1):
        img = np.zeros((60, 80, 3), np.uint8)
        x = 5 + 10 * i
        img[20:30, x : x + 10] = 255
        Image.fromarray(img).save(seq / f"{i:08d}.jpg")
        m = np.zeros((60, 80), np.uint8)
        m[20:30, x : x + 10] = 255
        Image.fromarray(m).save(seq / "masks" / f"{i - 1 + mask_start:08d}.png")
        lines.append(",".join(str(v) for v in (x, 20, x + 10, 20, x + 10, 30, x, 30)))
    (seq / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    return seq


@pytest.mark.parametrize("mask_start", [0, 1])
def test_vot_reader_aligns_vojir_matas_masks(tmp_path, mask_start):
    _write_vot(tmp_path, mask_start=mask_start)
    (seq,) = read_vot(tmp_path)
    assert len(seq) == 5
    for i in range(5):
        f, m = seq.frame(i), seq.mask(i)
        bright = f.mean(-1) > 128
        assert (bright & m).sum() / m.sum() > 0.9  # the mask sits on the object of the same frame


def test_vot_reader_polygon_fallback_and_bad_numbering(tmp_path):
    seq_dir = _write_vot(tmp_path)
    for p in (seq_dir / "masks").iterdir():
        p.unlink()
    (seq_dir / "masks").rmdir()
    (seq,) = read_vot(tmp_path)
    assert seq.mask(2).sum() > 80
    (seq_dir / "masks").mkdir()
    Image.fromarray(np.zeros((60, 80), np.uint8)).save(seq_dir / "masks" / "00000007.png")
    with pytest.raises(DataError, match="do not match 5 frames"):
        read_vot(tmp_path)


def test_video_reader(tmp_path):
    import imageio.v3 as iio

    frames = np.zeros((6, 48, 64, 3), np.uint8)
    for i in range(6):
        frames[i, :, 8 * i : 8 * i + 8] = 255
    iio.imwrite(tmp_path / "v.mp4", frames, fps=10, codec="libx264")
    seq = read_video(tmp_path / "v.mp4")
    assert len(seq) == 6 and seq.frame(3).shape == (48, 64, 3) and seq.size == (48, 64)
    (tmp_path / "bad.mp4").write_bytes(b"not a video at all")
    with pytest.raises(DataError, match="bad.mp4: cannot decode video"):
        read_video(tmp_path / "bad.mp4")


# -- bad input ------------------------------------------------------------------------------------
def test_bad_input_errors_name_the_file(tmp_path, square_seqs):
    seq = _write_square_sequence(tmp_path, n=3, name="bad")
    # corrupt JPEG
    seq.frames[1].write_bytes(b"\xff\xd8garbage")
    with pytest.raises(DataError, match=r"00001.jpg: cannot decode image"):
        seq.frame(1)
    # missing frame
    seq.frames[2].unlink()
    with pytest.raises(DataError, match=r"00002.jpg: frame file is missing"):
        seq.validate()
    # mask of another size
    seq2 = _write_square_sequence(tmp_path, n=3, name="size")
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(seq2.masks[1])
    with pytest.raises(DataError, match=r"00001.png: mask is 10x10 but frame 00001.jpg is 160x120"):
        seq2.mask(1)
    # empty first mask
    seq3 = _write_square_sequence(tmp_path, n=3, name="empty")
    Image.fromarray(np.zeros((120, 160), np.uint8)).save(seq3.masks[0])
    with pytest.raises(DataError, match=r"00000.png: the first mask is empty"):
        seq3.first_mask()
    # one-frame sequence cannot train
    one = _write_square_sequence(tmp_path, n=1, name="one")
    with pytest.raises(DataError, match="one: one-frame sequence"):
        LocalSampler([one], load_config("tiny").data)
    # roots without the expected layout
    with pytest.raises(DataError, match="not a DAVIS root"):
        read_davis(tmp_path)
    with pytest.raises(DataError, match="not a VOT root"):
        read_vot(tmp_path)
    with pytest.raises(DataError, match="no images"):
        (tmp_path / "emptydir").mkdir()
        read_folder(tmp_path / "emptydir")
    with pytest.raises(DataError, match="unknown dataset"):
        load_dataset("nope", tmp_path)


# -- embedded benchmark, splits ---------------------------------------------------------------------
def test_embedded_is_deterministic_and_varied(tmp_path, small_embedded):
    a = generate_sequence(5, 3, tmp_path / "a", 12)
    b = generate_sequence(5, 3, tmp_path / "b", 12)
    for sub in ("frames/00007.jpg", "masks/00007.png"):
        assert (tmp_path / "a" / a / sub).read_bytes() == (tmp_path / "b" / b / sub).read_bytes()
    c = generate_sequence(6, 3, tmp_path / "c", 12)
    assert (tmp_path / "c" / c / "masks/00007.png").read_bytes() != (
        tmp_path / "a" / a / "masks/00007.png"
    ).read_bytes()
    assert len(small_embedded) == 4
    sizes = {s.size for s in small_embedded}
    assert len(sizes) >= 2
    for s in small_embedded:
        assert 16 <= len(s) <= 24 and s.first_mask().any()


def test_ten_folds_and_halves():
    names = [f"s{i:02d}" for i in range(60)]
    folds = ten_folds(names, seed=0)
    assert len(folds) == 10
    assert all(len(tr) == 54 and len(te) == 6 and not set(tr) & set(te) for tr, te in folds)
    assert sorted(n for _, te in folds for n in te) == names
    assert ten_folds(names, seed=0) == folds and ten_folds(names, seed=1) != folds
    a, b = halves(names[:54])
    assert len(a) == 27 and len(b) == 27 and not set(a) & set(b)


# -- Sec. 3.3 ROI rules -----------------------------------------------------------------------------
def test_clip_indices_stretch():
    assert list(clip_indices(100, 10, 5)) == [10, 11, 12, 13, 14]
    idx = clip_indices(7, 2, 10)  # 5 frames left for 10 slots: each repeated
    assert idx[0] == 2 and idx[-1] == 6 and len(idx) == 10 and np.all(np.diff(idx) >= 0)


def test_local_sampler_roi_rules(square_seqs):
    cfg = load_config("tiny", ["data.seq_len=8"]).data
    sampler = LocalSampler(square_seqs, cfg, seed=0)
    steps = {"a": 3, "b": 2}
    for index in range(20):
        s = sampler(index)
        seq = square_seqs[int(s["seq_index"])]
        masks = s["masks"].astype(bool)
        # recover each frame's object box from its mask to know t
        xs = [np.flatnonzero(m.any(0))[0] for m in masks]
        t = [(x - 10) // steps[seq.name] for x in xs]
        t0 = t[0]
        for j, box in enumerate(s["boxes"]):
            side = box[2] - box[0]
            assert abs(side - (box[3] - box[1])) < 1e-3  # square
            assert 56 * 0.9 - 1e-3 <= side <= 56 * 1.1 + 1e-3  # 2 x 20 = 40 clipped up to 56, then scaled
            ref = t0 if j == 0 else max(t[j] - 5, t0)
            cx_ref = 10 + steps[seq.name] * ref + 10
            cx = (box[0] + box[2]) / 2
            assert abs(cx - cx_ref) <= 10 + 1e-3  # centre from the mask at t - 5, shifted by <= 10 px
            assert abs((box[1] + box[3]) / 2 - 50) <= 10 + 1e-3
        assert 1 <= s["rep_t"] <= 8


def test_given_roi_boxes_and_ground_truth_share(square_seqs):
    cfg = load_config("tiny", ["data.seq_len=6"]).data
    far = {s.name: np.tile(np.array([[0, 0, 30, 30]], np.float32), (len(s), 1)) for s in square_seqs}
    only_given = LocalSampler(square_seqs, cfg, seed=0, roi_boxes=far, gt_fraction=0.0)
    for i in range(5):
        b = only_given(i)["boxes"]
        np.testing.assert_array_equal(b[1:], np.tile([[0, 0, 30, 30]], (6, 1)))  # Sec. 5.1 step 5 ROIs
        assert b[0, 2] - b[0, 0] > 40  # the first frame keeps the Sec. 3.3 rule
    mixed = LocalSampler(square_seqs, cfg, seed=0, roi_boxes=far, gt_fraction=0.5)
    uses_given = [bool(np.all(mixed(i)["boxes"][1:] == [0, 0, 30, 30])) for i in range(40)]
    assert 8 < sum(uses_given) < 32


def test_roi_side_clipped_to_672():
    from pixtrack_tf.ops.roi import roi_around as roi_box

    assert roi_box((0, 0, 500, 100), 2.0, 56, 672)[2] - roi_box((0, 0, 500, 100), 2.0, 56, 672)[0] == 672
    b = roi_box((10, 10, 60, 40), 2.0, 56, 672)
    assert b[2] - b[0] == 100 and (b[0] + b[2]) / 2 == 35


def _batches(ds, n):
    it = iter(ds)
    return [{k: v.numpy() for k, v in next(it).items()} for _ in range(n)]


def test_local_pipeline_batches_and_replaced_frame(tiny_cfg, small_embedded):
    S, T = tiny_cfg.local.roi_size, tiny_cfg.data.seq_len
    (b,) = _batches(local_dataset(small_embedded, tiny_cfg, seed=0), 1)
    assert b["images"].shape == (2, T, S, S, 3) and b["masks"].shape == (2, T, S, S, 1)
    assert b["first_image"].shape == (2, S, S, 3) and b["first_mask"].shape == (2, S, S, 1)
    assert set(np.unique(b["masks"])) <= {0.0, 1.0}
    assert np.all(b["replaced"].sum(1) == 1)
    assert np.all(b["masks"][b["replaced"]] == 0)  # step 4: the replaced frame's mask is all zero
    assert b["first_mask"].sum() > 0
    cfg = dataclasses.replace(tiny_cfg, data=dataclasses.replace(tiny_cfg.data, replace_frame=False))
    (nb,) = _batches(local_dataset(small_embedded, cfg, seed=0), 1)
    assert not nb["replaced"].any()


def test_pipelines_repeat_exactly_under_a_seed_and_resume(tiny_cfg, small_embedded):
    a = _batches(local_dataset(small_embedded, tiny_cfg, seed=7), 3)
    b = _batches(local_dataset(small_embedded, tiny_cfg, seed=7), 3)
    c = _batches(local_dataset(small_embedded, tiny_cfg, seed=8), 1)
    for x, y in zip(a, b):
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])
    assert not np.array_equal(a[0]["images"], c[0]["images"])
    resumed = _batches(local_dataset(small_embedded, tiny_cfg, seed=7, start=2 * tiny_cfg.data.batch_size), 1)
    np.testing.assert_array_equal(resumed[0]["images"], a[2]["images"])
    g1 = _batches(global_dataset(small_embedded, tiny_cfg, seed=7), 2)
    g2 = _batches(global_dataset(small_embedded, tiny_cfg, seed=7), 2)
    np.testing.assert_array_equal(g1[1]["maps"], g2[1]["maps"])


def test_global_pipeline_targets_and_shrinking_dilation(tiny_cfg, small_embedded):
    # kernel sides are given at a 224 map and scale with it: 49 at 224 is 7 on the tiny 32 map
    cfg = dataclasses.replace(tiny_cfg, data=dataclasses.replace(tiny_cfg.data, global_dilation=(49, 0)))
    m, T = cfg.global_.map_size, cfg.data.seq_len
    b = _batches(global_dataset(small_embedded, cfg, seed=0, dilation_every=1), 2)
    assert b[0]["maps"].shape == (2, T, m, m, 1) and b[0]["aspect"].shape == (2, 1)
    assert list(b[0]["kernel"]) == [7, 7] and list(b[1]["kernel"]) == [0, 0]
    # inputs are Z_{0:T-1}, targets Z_{1:T}: the same sequence shifted by one
    np.testing.assert_array_equal(b[1]["maps"][:, 1:], b[1]["targets"][:, :-1])
    # dilation makes the object bigger
    assert b[0]["maps"].mean() > 0 and dilation_kernel(25, (31, 21, 11), 10) == 11
    undilated = _batches(global_dataset(small_embedded, cfg, seed=0, dilation_every=10**9), 1)[0]
    assert undilated["kernel"][0] == 7


def test_global_dataset_from_predictions(tiny_cfg):
    rng = np.random.default_rng(0)
    T, m = tiny_cfg.data.seq_len, tiny_cfg.global_.map_size
    pred = rng.uniform(size=(3, T + 1, m, m))
    gt = (rng.uniform(size=(3, T + 1, m, m)) > 0.5).astype(float)
    (b,) = _batches(global_dataset_from_predictions(pred, gt, [1.0, 1.5, 0.5], tiny_cfg), 1)
    assert b["maps"].shape == (2, T, m, m, 1)
    # the first input map is the ground truth Z_0 (Sec. 5.1 step 4: {Z_0, Z-hat_1, ...})
    assert any(np.array_equal(b["maps"][0, 0, ..., 0], gt[i, 0]) for i in range(3))


def test_step4_leaves_out_the_frames_whose_prediction_lost_the_object(tiny_cfg):
    """Sec. 5.1 step 4 with ``train.refine_follow``: a frame enters Eq. 4 only while its input map
    Z_hat_{t-1} has its mass on the object; a clip with no such frame (from loss_from on) is dropped."""
    from pixtrack_tf.data.pipelines import follows_object

    T, m = 4, tiny_cfg.global_.map_size
    gt = np.zeros((3, T + 1, m, m), np.float32)
    gt[..., 4:10, 4:10] = 1
    pred = gt * 0.9
    pred[1, 3] = 0
    pred[1, 3, 20:26, 20:26] = 0.9  # clip 1 lost the object at frame 3 only
    pred[2, 1:] = 0
    pred[2, 1:, 20:26, 20:26] = 0.9  # clip 2 lost it from frame 1 on
    pred[0, 2] *= 0.0  # an empty prediction follows nothing
    follow = follows_object(pred, gt, 0.5)
    assert follow[0, :2].all() and not follow[0, 2] and not follow[1, 3] and follow[1, 4] and not follow[2, 1:].any()
    assert follows_object(pred, gt, 0.0).all()

    cfg = load_config("tiny", ["train.refine_follow=0.5", "train.loss_from=2", "data.seq_len=4"])
    batches = _batches(global_dataset_from_predictions(pred, gt, [1.0, 1.5, 0.5], cfg, batch_size=2), 4)
    # clip 2 (aspect 0.5) is gone: every frame Eq. 4 counts lost its object
    rows = {float(a): w for b in batches for a, w in zip(b["aspect"][:, 0], b["weight"])}
    assert sorted(rows) == [1.0, 1.5]
    # weight[t - 1] belongs to the input Z_bar_{t-1}; Z_bar_0 is the ground truth
    np.testing.assert_array_equal(rows[1.5], [1, 1, 1, 0])
    np.testing.assert_array_equal(rows[1.0], [1, 1, 0, 1])
    written_cfg = load_config("tiny", ["train.loss_from=2", "data.seq_len=4"])
    written = _batches(global_dataset_from_predictions(pred, gt, [1.0, 1.5, 0.5], written_cfg, batch_size=2), 4)
    assert all(b["weight"].all() for b in written)  # 0 = every frame, as written
    assert {float(a) for b in written for a in b["aspect"][:, 0]} == {0.5, 1.0, 1.5}
    everything_lost = pred.copy()
    everything_lost[:, 1:] = pred[2, 1:]
    with pytest.raises(ValueError, match="refine_follow"):
        global_dataset_from_predictions(everything_lost, gt, [1.0, 1.5, 0.5], cfg)


def test_draw_batch(tmp_path, tiny_cfg, small_embedded):
    from pixtrack_tf.data.draw import draw_local_batch

    (b,) = _batches(local_dataset(small_embedded, tiny_cfg, seed=0), 1)
    out = draw_local_batch(b, tmp_path / "batch.png")
    img = np.asarray(Image.open(out))
    assert img.shape[0] > 2 * tiny_cfg.local.roi_size and (img[..., 0] > 200).any()


def test_bench_command(tmp_path, davis_root, capsys):
    from pixtrack_tf.cli import data_bench as bench

    assert bench.main(["--dataset", "davis2016", "--root", str(tmp_path)]) != 0
    assert "not a DAVIS root" in capsys.readouterr().err
    assert (
        bench.main(
            [
                "--dataset",
                "davis2016",
                "--root",
                str(davis_root),
                "--config",
                "tiny",
                "--batches",
                "2",
                "--split",
                "val",
            ]
        )
        == 0
    )
    assert "frames/s" in capsys.readouterr().out


def test_halves_of_a_fold_never_read_its_test_sequences():
    """The 10-fold datasets: --split train-a / --test-split train-b are Sec. 5.1's halves of the
    fold's training split (as step 1 of that fold splits them); the fold's test part is in neither."""
    from pixtrack_tf.data import DataError
    from pixtrack_tf.data.splits import halves, train_test_splits

    [(fold_train, fold_test)], _ = train_test_splits("embedded", folds=(1,), num_sequences=20, n_frames=8)
    a, b = halves(sorted(s.name for s in fold_train), 0)
    [(train, test)], desc = train_test_splits(
        "embedded", folds=(1,), test_split="train-b", num_sequences=20, n_frames=8
    )
    assert [s.name for s in train] == a and [s.name for s in test] == b
    assert not ({s.name for s in train + test} & {s.name for s in fold_test}) and len(a) + len(b) == 18
    assert desc["split"] == "train-a" and desc["test_split"] == "train-b" and desc["folds"] == [1]
    [(train, test)], _ = train_test_splits("embedded", split="train-b", folds=(1,), num_sequences=20, n_frames=8)
    assert [s.name for s in train] == b and [s.name for s in test] == a
    with pytest.raises(DataError, match="needs the 10 folds"):
        train_test_splits("embedded", split="all", test_split="train-a", num_sequences=20, n_frames=8)


def test_test_split_halves_of_davis_train_never_read_val(davis_root):
    """reproduce --test-split train-a|train-b: Sec. 5.1's halves of DAVIS train, one tested, the
    other trained on; no val sequence anywhere; val stays the default."""
    from pixtrack_tf.data import DataError
    from pixtrack_tf.data.splits import halves, train_test_splits

    val = {s.name for s in read_davis(davis_root, "val")}
    names = sorted(s.name for s in read_davis(davis_root, "train"))
    a, b = halves(names, 0)
    [(train, test)], desc = train_test_splits("davis2016", davis_root, test_split="train-b")
    assert [s.name for s in test] == b and [s.name for s in train] == a
    assert not ({s.name for s in train + test} & val) and desc["test_split"] == "train-b"
    [(train, test)], _ = train_test_splits("davis2016", davis_root, test_split="train-a")
    assert [s.name for s in test] == a and [s.name for s in train] == b
    [(_, test)], _ = train_test_splits("davis2016", davis_root)
    assert {s.name for s in test} == val
    with pytest.raises(DataError, match="test split must be one of"):
        train_test_splits("davis2016", davis_root, test_split="val-b")
    # train --split train-a trains exactly step 1a's sequences, in the order step 1a reads them
    [(train, test)], desc = train_test_splits("davis2016", davis_root, split="train-a")
    assert [s.name for s in train] == a and [s.name for s in test] == b and desc["split"] == "train-a"
    [(train, _)], _ = train_test_splits("davis2016", davis_root, split="train-b", test_split="train-a")
    assert [s.name for s in train] == b
    with pytest.raises(DataError, match="overlap"):
        train_test_splits("davis2016", davis_root, split="train-a", test_split="train-a")
    # seed draws the halves unless data.split_seed holds them (a seed check on the same test half)
    from pixtrack_tf.config import ConfigError, load_config
    from pixtrack_tf.data.splits import halves_seed

    assert halves(names, 1) != (a, b)
    for over, seed in ((["seed=1"], 1), (["seed=1", "data.split_seed=0"], 0), (["data.split_seed=3"], 3)):
        assert halves_seed(load_config("cpu", over)) == seed
    [(train, test)], _ = train_test_splits("davis2016", davis_root, test_split="train-b", seed=1, split_seed=0)
    assert [s.name for s in test] == b and [s.name for s in train] == a
    [(_, test)], _ = train_test_splits("davis2016", davis_root, test_split="train-b", seed=1)
    assert [s.name for s in test] == halves(names, 1)[1]
    with pytest.raises(ConfigError, match="data.split_seed"):
        load_config("cpu", ["data.split_seed=-2"])
