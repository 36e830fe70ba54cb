"""pixtrack+ model soups (RULE.md round 18; not the paper): ``pixtrack export --average`` writes the mean of
several runs' decoder weights as a compact run that tracks, from run folders, compact runs and snapshots
alike, and refuses runs that cannot be averaged, naming them."""

import json
import shutil

import numpy as np
import pytest


def _scaled_copy(src, dest, factor):
    """A compact run like ``src`` whose decoder weights are ``factor`` times ``src``'s."""
    shutil.copytree(src, dest)
    saved = np.load(dest / "plus.npz")
    np.savez(dest / "plus.npz", **{k: saved[k] * factor for k in saved.files})
    return dest


def test_the_average_is_the_mean_of_the_weights_and_tracks(plus_run, tmp_path):
    from pixtrack_tf.runs import load_tracker, write_compact_run
    from pixtrack_tf.training.soup import plus_arrays, write_average_run

    one = write_compact_run(plus_run, tmp_path / "one", parts=("plus",))
    three = _scaled_copy(one, tmp_path / "three", 3.0)
    soup = write_average_run([one, three], tmp_path / "soup")
    mean, base = plus_arrays(soup), plus_arrays(one)
    assert set(mean) == set(base) and len(mean) > 0
    for k in base:
        np.testing.assert_allclose(mean[k], 2.0 * base[k], rtol=1e-6, atol=1e-7)
    info = json.loads((soup / "MODEL.json").read_text())
    assert [a["path"] for a in info["average_of"]] == [str(one), str(three)]
    assert info["average_of"][0]["trained_by"]["command"]  # the ingredient's provenance travels with it

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (32, 48, 3), dtype=np.uint8)
    mask = np.zeros((32, 48), bool)
    mask[8:20, 12:30] = True
    tracker = load_tracker(soup)
    tracker.init(frame, [mask])
    (res,) = tracker.track(frame)
    assert res.prob.shape == (32, 48)


def test_a_snapshot_is_read_as_its_run(plus_run, tmp_path):
    from pixtrack_tf.training.snapshot import write_snapshot
    from pixtrack_tf.training.soup import plus_arrays

    write_snapshot(plus_run, tmp_path / "snap")
    from_snapshot, from_run = plus_arrays(tmp_path / "snap"), plus_arrays(plus_run)
    assert set(from_snapshot) == set(from_run)
    for k in from_run:
        np.testing.assert_array_equal(from_snapshot[k], from_run[k])
    progress = tmp_path / "snap" / "plus" / "progress.json"
    progress.write_text(json.dumps({**json.loads(progress.read_text()), "finished": False}))
    from pixtrack_tf.training.soup import SoupError

    with pytest.raises(SoupError, match="unfinished"):
        plus_arrays(tmp_path / "snap")


def test_a_finished_snapshot_loads_and_tracks_as_its_run(plus_run, tmp_path):
    """A committed snapshot of a finished run is a ``--run`` folder: its ``snapshot.npz`` stands for the
    missing weights file (session 29 needed a one-off script for this); an unfinished one is refused."""
    from pixtrack_tf.runs import find_weights, load_plus, load_tracker
    from pixtrack_tf.training.snapshot import write_snapshot

    snap = tmp_path / "snap"
    write_snapshot(plus_run, snap)
    assert not (snap / "plus" / "model.weights.h5").exists()
    assert find_weights(snap)["plus"] == snap / "plus" / "snapshot.npz"
    (_, from_run), (_, from_snap) = load_plus(plus_run), load_plus(snap)
    assert len(from_snap.trainable_variables) == len(from_run.trainable_variables) > 0
    for a, b in zip(from_run.trainable_variables, from_snap.trainable_variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    rng = np.random.default_rng(1)
    frame = rng.integers(0, 255, (32, 48, 3), dtype=np.uint8)
    mask = np.zeros((32, 48), bool)
    mask[8:20, 12:30] = True
    probs = []
    for run in (plus_run, snap):
        tracker = load_tracker(run)
        tracker.init(frame, [mask])
        probs.append(tracker.track(frame)[0].prob)
    np.testing.assert_allclose(probs[1], probs[0], atol=1e-6)

    progress = snap / "plus" / "progress.json"
    progress.write_text(json.dumps({**json.loads(progress.read_text()), "finished": False}))
    assert "plus" not in find_weights(snap)
    with pytest.raises(FileNotFoundError, match="no trained pixtrack"):
        load_plus(snap)


def test_runs_that_cannot_be_averaged_are_refused_by_name(plus_run, tmp_path, capsys):
    from pixtrack_tf.cli import export
    from pixtrack_tf.runs import write_compact_run

    one = write_compact_run(plus_run, tmp_path / "one", parts=("plus",))
    other_seed = shutil.copytree(one, tmp_path / "seed1")
    cfg = other_seed / "config.yaml"
    cfg.write_text(cfg.read_text().replace("seed: 0", "seed: 1", 1))
    assert "seed: 1" in cfg.read_text()
    narrow = _scaled_copy(one, tmp_path / "narrow", 1.0)
    saved = np.load(narrow / "plus.npz")
    first = saved.files[0]
    np.savez(narrow / "plus.npz", **{k: (saved[k][..., :1] if k == first else saved[k]) for k in saved.files})

    cases = [([one], "at least two"), ([one, other_seed], "seed1: seed 1"), ([one, narrow], "narrow")]
    cases += [([one, tmp_path / "nowhere"], "nowhere")]
    for runs, said in cases:
        out = tmp_path / f"out{len(said)}"
        assert export.main(["--average", *map(str, runs), "--out", str(out)]) == 2
        assert said in capsys.readouterr().err
        assert not (out / "plus.npz").exists()
    assert export.main(["--average", str(one), str(one), "--out", str(tmp_path / "same")]) == 0
