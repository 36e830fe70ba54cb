"""The backbone feature store: exact features, a training step equal to the image path's, keys that
never reuse a stale store, a build that resumes after a crash."""

import dataclasses
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from pixtrack_tf.config import load_config
from pixtrack_tf.data.embedded import load_embedded
from pixtrack_tf.models import VGGPool4
from pixtrack_tf.ops.roi import crop_roi, dilate
from pixtrack_tf.training import feature_store
from pixtrack_tf.training.feature_store import StoreSampler, open_or_build, store_dataset


@pytest.fixture(scope="module")
def cfg():
    return load_config("tiny", ["train.store_jitters=2", "data.batch_size=2"])


@pytest.fixture(scope="module")
def seqs(tmp_path_factory):
    return load_embedded(seed=3, num_sequences=3, n_frames=12, cache_dir=tmp_path_factory.mktemp("emb"))


@pytest.fixture(scope="module")
def store(cfg, seqs, tmp_path_factory):
    return open_or_build(tmp_path_factory.mktemp("stores"), cfg, seqs, progress=False)


def _backbone(cfg):
    b = VGGPool4(weights=cfg.backbone.weights, output_scale=cfg.local.feature_scale)
    b.build((None, cfg.local.roi_size, cfg.local.roi_size, 3))
    return b


def _crop(seq, t, box, S):
    frame = tf.constant(seq.frame(t)[None])
    mask = tf.constant(seq.mask(t)[None, ..., None].astype(np.uint8))
    b = tf.constant(np.asarray(box, np.float32)[None])
    return crop_roi(frame, b, S), tf.cast(crop_roi(mask, b, S) >= 0.5, tf.float32)


def test_stored_features_equal_the_backbone(cfg, seqs, store):
    """Plain and masked (before pool1) pool4 from the store equal the backbone on the same crop, to
    the storage precision (float16); the targets are the crops of the masks."""
    S, bb = cfg.local.roi_size, _backbone(cfg)
    ex = feature_store._Extractor(bb, S, cfg.local.mask_radius)
    for seq in seqs[:2]:
        a = store.arrays(seq.name)
        assert a["lag_pool4"].dtype == np.float16 and a["lag_pool4"].shape[:2] == (len(seq), 2)
        for t, k in ((0, 0), (len(seq) - 1, 1)):
            img, msk = _crop(seq, t, a["lag_box"][t, k], S)
            ref = np.asarray(bb(img))[0]
            # float32 before the storage cast: the builder computes what the backbone computes
            frames = tf.constant(seq.frame(t)[None])
            masks = tf.constant(seq.mask(t)[None, ..., None].astype(np.uint8))
            pre, target = ex.plain(frames, masks, tf.constant(a["lag_box"][t, k][None]), tf.constant([0]))
            np.testing.assert_allclose(np.asarray(pre)[0], ref, atol=1e-5)
            np.testing.assert_allclose(
                a["lag_pool4"][t, k].astype(np.float32), ref, rtol=2e-3, atol=2e-3 * np.abs(ref).max()
            )
            np.testing.assert_array_equal(a["lag_mask"][t, k], np.asarray(msk)[0, ..., 0].astype(np.uint8))
            img, msk = _crop(seq, t, a["own_box"][t, k], S)
            masked = np.asarray(bb(img, conv1_mask=dilate(msk, cfg.local.mask_radius)))[0]
            np.testing.assert_allclose(
                a["own_masked_pool4"][t, k].astype(np.float32), masked, rtol=2e-3, atol=2e-3 * np.abs(masked).max()
            )
            assert not np.allclose(masked, np.asarray(bb(img))[0])  # the mask did something


def test_a_training_step_on_stored_features_equals_one_on_images(cfg, seqs, store):
    """The loss of Eq. 2 on a stored batch equals the loss on the images the store was cut from."""
    from pixtrack_tf.training.tasks import LocalTask

    S = cfg.local.roi_size
    sampler = StoreSampler(store, seqs, cfg, seed=7)
    idx = [3, 4]
    stored = [sampler(i) for i in idx]
    images = {"first_image": [], "first_mask": [], "images": [], "masks": [], "replaced": []}
    by = {s.name: s for s in seqs}
    for i, st in zip(idx, stored):
        c = sampler.choose(i)
        name, t0, k0 = c["first"]
        a = store.arrays(name)
        img, msk = _crop(by[name], t0, a["own_box"][t0, k0], S)
        images["first_image"].append(img[0])
        images["first_mask"].append(dilate(msk, cfg.local.mask_radius)[0])
        frames, masks = [], []
        for slot, n, t, k in c["frames"]:
            img, msk = _crop(by[n], t, store.arrays(n)[f"{slot}_box"][t, k], S)
            frames.append(img[0])
            masks.append(msk[0] * (0.0 if slot == "own" else 1.0))
        images["images"].append(tf.stack(frames))
        images["masks"].append(tf.stack(masks))
        images["replaced"].append(st["replaced"])
    images = {k: tf.stack(v) for k, v in images.items()}
    feats = {
        k: tf.stack([s[k] for s in stored]) for k in ("first_pool4", "first_masked_pool4", "pool4", "masks", "replaced")
    }
    np.testing.assert_array_equal(np.asarray(feats["masks"]), np.asarray(images["masks"]))
    task = LocalTask(cfg, seqs)
    model = task.build_model()
    loss_img = np.asarray(task.per_example_loss(model, images)[0])
    loss_store = np.asarray(task.per_example_loss(model, feats)[0])
    np.testing.assert_allclose(loss_store, loss_img, rtol=2e-3)


def test_store_dataset_and_training_use_the_store(cfg, seqs, store, tmp_path):
    """``train.feature_store`` makes LocalTask and FCNTask train on stored features; the loss falls."""
    from pixtrack_tf.training.loop import fit, read_log
    from pixtrack_tf.training.tasks import FCNTask, LocalTask

    (b,) = list(store_dataset(store, seqs, cfg).take(1))
    T, f = cfg.data.seq_len, cfg.local.roi_size // 16
    assert b["pool4"].shape == (2, T, f, f, 512) and b["pool4"].dtype == tf.float16
    c = dataclasses.replace(
        cfg, train=dataclasses.replace(cfg.train, feature_store=str(store.root), local_steps=30, log_every=5)
    )
    task = LocalTask(c, seqs, progress=False)
    assert task.store and "pool4" in next(iter(task.dataset(0, 2)))
    fit(task, tmp_path / "local", progress=False)
    log = read_log(tmp_path / "local")
    assert log[-1]["loss"] < log[0]["loss"]
    fit(FCNTask(c, seqs, progress=False), tmp_path / "fcn", progress=False)
    assert (tmp_path / "fcn" / "model.weights.h5").exists()
    assert sorted(p.name for p in store.root.iterdir()) == sorted(store.entries.values())  # reused, not rebuilt


def test_the_key_changes_with_config_weights_and_data(cfg, seqs, store, tmp_path):
    root = store.root
    assert open_or_build(root, cfg, seqs, progress=False).entries == store.entries  # the same store again
    half = open_or_build(root, cfg, seqs[:2], progress=False)  # a subset shares the entries
    assert half.entries == {s.name: store.entries[s.name] for s in seqs[:2]}
    other = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, shift_jitter=3.0))
    assert open_or_build(tmp_path, other, seqs[:1], progress=False).entries[seqs[0].name] != store.entries[seqs[0].name]
    scaled = dataclasses.replace(cfg, local=dataclasses.replace(cfg.local, feature_scale=0.5))
    fp = feature_store.backbone_fingerprint(_backbone(cfg))
    assert feature_store.backbone_fingerprint(_backbone(scaled)) != fp  # the output scale is part of it
    bb = _backbone(cfg)
    w = bb.get_weights()
    w[0] = w[0] + 1e-3
    bb.set_weights(w)
    assert feature_store.backbone_fingerprint(bb) != fp  # other weights, another store
    key = lambda seq: feature_store.entry_key(feature_store.entry_description(cfg, seq, fp, 2))  # noqa: E731
    k1 = key(seqs[0])
    m = seqs[0].masks[0]
    os.utime(m, ns=(os.stat(m).st_atime_ns, os.stat(m).st_mtime_ns + 10**9))  # touched, same content
    assert key(seqs[0]) == k1
    copy = tmp_path / "copy"  # the data copied elsewhere (new paths, new times): the same entry
    shutil.copytree(Path(m).parent.parent, copy)
    moved = dataclasses.replace(
        seqs[0],
        frames=[copy / Path(f).relative_to(Path(m).parent.parent) for f in seqs[0].frames],
        masks=[copy / Path(f).relative_to(Path(m).parent.parent) for f in seqs[0].masks],
    )
    assert key(moved) == k1
    Path(moved.masks[0]).write_bytes(Path(moved.masks[0]).read_bytes() + b"x")  # a changed mask file
    assert key(moved) != k1


def test_a_bfloat16_store_has_its_own_key_and_close_features(cfg, seqs, store, tmp_path):
    """``train.store_precision: bfloat16`` computes the backbone in bfloat16: another entry (never a
    float32 store's), the same boxes and targets, pool4 within bfloat16's rounding of float32's."""
    bf = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, store_precision="bfloat16"))
    other = open_or_build(tmp_path, bf, seqs[:1], progress=False)
    name = seqs[0].name
    assert other.entries[name] != store.entries[name]
    a, b = store.arrays(name), other.arrays(name)
    np.testing.assert_array_equal(a["lag_box"], b["lag_box"])
    np.testing.assert_array_equal(a["lag_mask"], b["lag_mask"])
    for k in ("lag_pool4", "own_pool4", "own_masked_pool4"):
        x, y = np.asarray(a[k], np.float32), np.asarray(b[k], np.float32)
        assert np.abs(x - y).max() > 0  # computed in another arithmetic
        assert np.abs(x - y).mean() < 0.05 * np.abs(x).mean() + 1e-6


def test_an_interrupted_build_resumes(cfg, seqs, tmp_path, monkeypatch):
    """A crash while writing a sequence loses only that sequence: the next build keeps the finished
    ones and gives the same arrays as an uninterrupted build."""
    calls = {"n": 0}
    real_save = np.save

    def crashing_save(path, arr):
        calls["n"] += 1
        if calls["n"] == 9:  # in the second sequence (7 arrays a sequence)
            raise KeyboardInterrupt("killed")
        real_save(path, arr)

    monkeypatch.setattr(feature_store.np, "save", crashing_save)
    with pytest.raises(KeyboardInterrupt):
        open_or_build(tmp_path / "a", cfg, seqs, progress=False)
    monkeypatch.setattr(feature_store.np, "save", real_save)
    finished = [p for p in (tmp_path / "a").iterdir() if (p / "entry.json").exists()]
    assert len(finished) == 1 and json.loads((finished[0] / "entry.json").read_text())["name"] == seqs[0].name
    stamp = finished[0].stat().st_mtime_ns
    resumed = open_or_build(tmp_path / "a", cfg, seqs, progress=False)
    assert finished[0].stat().st_mtime_ns == stamp  # not rebuilt
    clean = open_or_build(tmp_path / "b", cfg, seqs, progress=False)
    for s in seqs:
        for k, v in clean.arrays(s.name).items():
            np.testing.assert_array_equal(resumed.arrays(s.name)[k], v)
    assert not list((tmp_path / "a").glob(".tmp-*"))


def test_step5_store_reads_the_given_rois(cfg, seqs, store, tmp_path):
    """Sec. 5.1 step 5: frames after the first read the crops at the given ROI boxes."""
    given = {s.name: np.tile(np.array([[2.0, 2.0, 30.0, 30.0]], np.float32), (len(s), 1)) for s in seqs}
    g = open_or_build(tmp_path, cfg, seqs, given=given, progress=False)
    a = g.arrays(seqs[0].name)
    assert a["given_pool4"].shape[0] == len(seqs[0]) and a["given_box"].shape == (len(seqs[0]), 4)
    sampler = StoreSampler(store, seqs, cfg, seed=1, given=g, gt_fraction=0.0)
    c = sampler.choose(0)
    assert {slot for slot, *_ in c["frames"]} <= {"given", "own"} and any(s == "given" for s, *_ in c["frames"])


def test_train_stage_store_builds_and_describes_the_store(cfg, seqs, store, tmp_path):
    """`train --stage store` builds (here: finds) the store and writes its size and build time."""
    from pixtrack_tf.training.iterative import train_stage

    c = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, feature_store=str(store.root)))
    assert train_stage(c, seqs, tmp_path, "store", progress=False) == []
    info = json.loads((tmp_path / "store.json").read_text())
    assert info["frames"] == sum(len(s) for s in seqs) and info["jitters"] == 2 and info["gib"] > 0


def test_train_stage_without_progress_builds_the_store_silently(cfg, seqs, tmp_path, capsys):
    """progress=False (--no-progress) reaches the store's build too: its bar used to print into
    logs of runs started with --no-progress (the embedded --retrain's log)."""
    from pixtrack_tf.training.iterative import train_stage

    train = dataclasses.replace(cfg.train, feature_store=str(tmp_path / "stores"), local_steps=2, log_every=1)
    c = dataclasses.replace(cfg, train=train)
    assert train_stage(c, seqs[:1], tmp_path / "run", "local", progress=False) == ["local"]
    assert list((tmp_path / "stores").iterdir())  # the store was built here
    assert "feature store" not in capsys.readouterr().err
