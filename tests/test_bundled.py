"""Bundled models (issue #16): compact run folders, the default of reproduce and of pixtrack track,
and the claims computed into every table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pixtrack_tf import runs as bundled


def _tiny_fcn_run(run_dir):
    """run_dir plus a (random) FCN, as reproduce finds it in RUN/fcn."""
    from pixtrack_tf.config import load_config
    from pixtrack_tf.models import FCNModel

    fcn = FCNModel.from_cfg(load_config(run_dir / "config.yaml"))
    (run_dir / "fcn").mkdir(exist_ok=True)
    fcn.save_weights(run_dir / "fcn" / "model.weights.h5")
    return run_dir


def test_compact_run_tracks_like_the_run_it_came_from(tmp_path, run_dir, small_davis_like):
    """export --compact keeps only trainable weights (.npz); loaded, it gives the run's outputs."""
    from pixtrack_tf.cli import export
    from pixtrack_tf.runs import load_models
    from pixtrack_tf.tracking import TwoStageTracker
    from pixtrack_tf.tracking.common import track_sequence

    _tiny_fcn_run(run_dir)
    out = tmp_path / "compact"
    assert export.main(["--run", str(run_dir), "--out", str(out), "--compact", "--what", "test"]) == 0
    assert json.loads((out / "final.json").read_text()) == {
        "local": "local.npz",
        "global": "global.npz",
        "fcn": "fcn.npz",
    }
    info = json.loads((out / "MODEL.json").read_text())
    assert info["what"] == "test" and info["parts"]["fcn"] == "fcn/model.weights.h5"
    outs = []
    for d in (run_dir, out):
        cfg, lm, gm = load_models(d)
        outs.append(track_sequence(TwoStageTracker(lm, gm, cfg), small_davis_like, keep_full=True))
    np.testing.assert_allclose(outs[0]["boxes"], outs[1]["boxes"], atol=1e-4)
    np.testing.assert_allclose(outs[0]["full"][-1], outs[1]["full"][-1], atol=1e-5)
    # a compact run is smaller than the run: no backbone, no optimizer
    size = lambda d: sum(f.stat().st_size for f in Path(d).rglob("*") if f.is_file())  # noqa: E731
    assert size(out) < size(run_dir)


def test_npz_that_does_not_fit_is_one_clear_error(tmp_path, run_dir):
    from pixtrack_tf.config import load_config
    from pixtrack_tf.models import GlobalModel, LocalModel
    from pixtrack_tf.models.base import save_trainable
    from pixtrack_tf.runs import load_trained

    cfg = load_config(run_dir / "config.yaml")
    p = save_trainable(GlobalModel.from_cfg(cfg), tmp_path / "g.npz")
    with pytest.raises(FileNotFoundError, match="do not fit"):
        load_trained(LocalModel, cfg, p)
    with pytest.raises(FileNotFoundError, match="no such weights file"):
        load_trained(LocalModel, cfg, tmp_path / "missing.npz")


def test_reproduce_evaluates_the_bundled_models_by_default(tmp_path, run_dir, monkeypatch, capsys):
    """No arguments but --out/--methods/--clips: reproduce evaluates the bundled embedded run (says so,
    trains nothing) and writes the claims section; --retrain is the way to train."""
    from pixtrack_tf.cli import reproduce

    _tiny_fcn_run(run_dir)
    fake = tmp_path / "bundled"
    from pixtrack_tf.cli import export

    assert export.main(["--run", str(run_dir), "--out", str(fake / "embedded"), "--compact"]) == 0
    monkeypatch.setattr(bundled, "BUNDLED_DIR", fake)
    out = tmp_path / "rep"
    code = reproduce.main(
        ["--out", str(out), "--methods", "2-stage ConvLSTM,1-stage ConvLSTM,FCN", "--clips", "1", "--no-progress"]
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "bundled model 'embedded'" in err and "--retrain" in err
    assert not (out / "runs").exists()  # nothing trained
    doc = json.loads((out / "table3.json").read_text())
    assert doc["provenance"]["models"]["run"] == str(fake / "embedded")
    assert {c["better"] for c in doc["claims"]} == {"2-stage ConvLSTM"}
    assert "Does the paper's claim hold here?" in (out / "table3.md").read_text()
    from pixtrack_tf.experiments.reproduce import uses_bundled

    assert not uses_bundled(retrain=True) and not uses_bundled(overrides=["seed=1"])
    assert uses_bundled()
    # a missing bundle is one line and exit 2
    monkeypatch.setattr(bundled, "BUNDLED_DIR", tmp_path / "nothing")
    assert reproduce.main(["--out", str(tmp_path / "rep2")]) == 2
    assert "missing from this install" in capsys.readouterr().err


def test_the_bundled_embedded_models_are_the_default_config():
    """The bundled embedded run was trained with ``reproduce.yaml`` as it is (every section: the model's
    sizes, the training budgets and the inference settings), so the default ``reproduce`` and
    ``reproduce --retrain`` evaluate the same design; a change to one without the other fails here."""
    from pixtrack_tf.config import differing_keys, load_config, to_dict  # as a resumed run checks its config

    default = load_config("reproduce")
    shipped = load_config(bundled.bundled_path("embedded") / "config.yaml")
    differ = differing_keys(to_dict(default), to_dict(shipped))
    assert not differ, f"reproduce.yaml and the bundled embedded config differ at: {', '.join(differ)}"
    assert default.local.roi_size == 128


def test_claims_are_computed_from_the_rows():
    from pixtrack_tf.experiments.claims import evaluate_claims, format_claims

    def row(m, L, v, thr=0.4):
        return {"method": m, "threshold": thr, "length": L, "iou": v, "clips": 1, "source": "ours"}

    rows = [row("2-stage ConvLSTM", 20, 0.5), row("2-stage ConvLSTM", 40, 0.3)]
    rows += [row("1-stage ConvLSTM", 20, 0.4), row("1-stage ConvLSTM", 40, 0.2)]
    rows += [row("FCN", 20, 0.6), row("FCN", 40, 0.2)]
    rows += [row("Optical flow (reference)", 20, 0.7), row("Optical flow (reference)", 40, 0.6)]
    rows += [{**row("FCN", 20, 0.0), "source": "paper"}]  # the paper's rows are never compared
    c = {(x["better"], x["worse"]): x for x in evaluate_claims(3, rows)}
    assert c[("2-stage ConvLSTM", "1-stage ConvLSTM")]["holds"]
    fcn = c[("2-stage ConvLSTM", "FCN")]
    assert not fcn["holds"] and fcn["failing"] == [{"threshold": 0.4, "length": 20, "margin": pytest.approx(-0.1)}]
    assert not c[("FCN", "Optical flow (reference)")]["holds"]
    md = format_claims(list(c.values()))
    assert "**does not hold**" in md and "0.4/L=20" in md
    davis = [{"method": "2-stage ConvLSTM", "J_mean": 0.3}, {"method": "1-stage ConvLSTM", "J_mean": 0.4}]
    j = [x for x in evaluate_claims(3, rows, davis) if "J mean" in x["claim"]]
    assert len(j) == 1 and not j[0]["holds"]


@pytest.fixture(scope="module")
def small_davis_like(tmp_path_factory):
    from pixtrack_tf.data.embedded import load_embedded

    return load_embedded(seed=5, num_sequences=1, n_frames=8, cache_dir=tmp_path_factory.mktemp("emb"))[0]


def test_track_without_model_uses_pixtrack_plus_and_davis2016_names_the_bundled_tracker(tmp_path, capsys):
    """pixtrack track --video clip.mp4 --box x,y,w,h --out DIR with no --model: pixtrack+, bundled (it
    beat the affinity reference on DAVIS train's held-out half), named on stderr; --model davis2016:
    the bundled DAVIS tracker (a SavedModel). The box's object is tracked over every frame."""
    import imageio.v2 as imageio

    from pixtrack_tf.cli import track

    path = tmp_path / "clip.mp4"
    with imageio.get_writer(path, fps=10, codec="libx264", macro_block_size=2) as w:
        for t in range(8):
            frame = np.full((120, 160, 3), 90, np.uint8)
            frame[40:80, 30 + 4 * t : 70 + 4 * t] = (220, 60, 40)
            w.append_data(frame)
    out = tmp_path / "out"
    assert track.main(["--video", str(path), "--box", "30,40,40,40", "--out", str(out), "--no-progress"]) == 0
    assert "model: plus, pixtrack+" in capsys.readouterr().err
    doc = json.loads((out / "track.json").read_text())
    assert doc["status"] == "complete" and doc["tracked"] == 8 and Path(doc["model"]) == bundled.bundled_path("plus")
    assert all(a[0] > 0 for a in (r["areas"] for r in doc["frames"]))  # the object is kept on every frame
    # --model davis2016 in each precision: the float32 export, or the same tracker exported in bfloat16
    for precision, name in (("float32", "davis2016"), ("bfloat16", "davis2016-bf16")):
        o = tmp_path / f"o-{precision}"
        argv = ["--model", "davis2016", "--video", str(path), "--box", "30,40,40,40", "--out", str(o)]
        assert track.main(argv + ["--no-progress", "--precision", precision]) == 0
        assert f"bundled model '{name}'" in capsys.readouterr().err
        doc = json.loads((o / "track.json").read_text())
        assert doc["status"] == "complete" and doc["tracked"] == 8 and doc["precision"] == precision
        assert Path(doc["model"]) == bundled.bundled_path(name)
        assert len(list((o / "masks").glob("*.png"))) == 8


def test_the_bundled_plus_and_its_preset_track_at_scale_075_and_fast_gives_half_size():
    """RULE.md rounds 24-25: the bundle tracks on the frame resized by 0.75 with the read's window and the
    box's margin kept at their frame distances, and configs/plus.yaml trains and tracks so (round 25); the
    fast form (``pixtrack track --fast``, runs.PLUS_FAST) gives half size back."""
    from pixtrack_tf.config import load_config

    def settings(cfg):
        return cfg.affinity.scale, cfg.affinity.radius, cfg.plus.roi_margin

    assert settings(load_config(bundled.bundled_path("plus") / "config.yaml")) == (0.75, 9, 5)
    assert settings(load_config("plus")) == (0.75, 9, 5)
    cfg, model = bundled.load_plus(bundled.bundled_path("plus"), bundled.PLUS_FAST)
    assert settings(cfg) == (0.5, 6, 3) and len(model.trainable_variables) > 0
