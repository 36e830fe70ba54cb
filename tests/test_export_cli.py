"""SavedModel export (loaded in a process that never imports pixtrack_tf), the pixtrack command,
and its bad-input errors."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from pixtrack_tf.tracking.savedmodel import SavedModelTracker


@pytest.fixture(scope="module")
def exported(run_dir, tmp_path_factory):
    from pixtrack_tf.cli import export

    out = tmp_path_factory.mktemp("sm") / "model"
    assert export.main(["--run", str(run_dir), "--out", str(out)]) == 0
    return out


SUBPROCESS = r"""
import sys, numpy as np, tensorflow as tf
from PIL import Image
m = tf.saved_model.load(sys.argv[1])
assert set(m.signatures) == {"initialize", "step"}, list(m.signatures)
frames = [np.asarray(Image.open(p).convert("RGB")) for p in sys.argv[4:]]
mask = (np.asarray(Image.open(sys.argv[2])) > 0).astype(np.uint8) * 255
state = m.signatures["initialize"](frame=tf.constant(frames[0]), mask=tf.constant(mask))
masks, boxes = [], []
for f in frames[1:]:
    out = m.signatures["step"](frame=tf.constant(f), **{k: v for k, v in state.items() if k.startswith("state_")})
    state = out
    masks.append(out["mask"].numpy()); boxes.append(out["box"].numpy())
assert "pixtrack_tf" not in sys.modules
np.savez(sys.argv[3], masks=np.stack(masks), boxes=np.stack(boxes))
print("OK")
"""


def test_savedmodel_loads_without_pixtrack_and_matches(tmp_path, exported, run_dir, davis_root):
    from pixtrack_tf.data import read_davis
    from pixtrack_tf.runs import load_models
    from pixtrack_tf.tracking import TwoStageTracker

    seq = read_davis(davis_root, "val", names=["blackswan"])[0]
    n = 6
    res_file = tmp_path / "res.npz"
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            SUBPROCESS,
            str(exported),
            str(seq.masks[0]),
            str(res_file),
            *[str(p) for p in seq.frames[:n]],
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,  # not the repo: pixtrack_tf is not importable by accident
    )
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr[-3000:]
    got = np.load(res_file)
    cfg, lm, gm = load_models(run_dir)
    tr = TwoStageTracker(lm, gm, cfg)
    tr.init(seq.frame(0), seq.mask(0))
    for i in range(1, n):
        res = tr.track(seq.frame(i))
        assert got["masks"][i - 1].shape == (480, 854)
        np.testing.assert_allclose(got["masks"][i - 1], res.prob, atol=1e-5)
        np.testing.assert_allclose(got["boxes"][i - 1], res.box, atol=1e-4)
    assert np.ptp(got["boxes"][:, 0]) > 0  # the ROI moves: the global model is in the loop


def test_pixtrack_track_on_davis(tmp_path, exported, davis_root):
    from pixtrack_tf import cli

    frames = davis_root / "JPEGImages" / "480p" / "blackswan"
    first = davis_root / "Annotations" / "480p" / "blackswan" / "00000.png"
    out = tmp_path / "out"
    assert (
        cli.main(
            [
                "track",
                "--model",
                str(exported),
                "--frames",
                str(frames),
                "--mask",
                str(first),
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    masks = sorted((out / "masks").iterdir())
    assert len(masks) == 50 and masks[0].name == "00000.png"
    m = np.asarray(Image.open(masks[7]))
    assert m.shape == (480, 854) and set(np.unique(m)) <= {0, 255}
    np.testing.assert_array_equal(np.asarray(Image.open(masks[0])) > 0, np.asarray(Image.open(first)) > 0)
    video = out / "overlay.mp4"
    assert video.exists() and video.stat().st_size > 10_000
    import imageio.v3 as iio

    assert iio.improps(video).shape[1:3] == (480, 854)
    track = json.loads((out / "track.json").read_text())
    assert len(track["frames"]) == 50 and track["frames_per_second"] > 0
    assert {"frame", "status", "boxes", "areas", "seconds"} <= set(track["frames"][3]) and track["status"] == "complete"
    # never overwritten silently
    assert (
        cli.main(
            [
                "track",
                "--model",
                str(exported),
                "--frames",
                str(frames),
                "--mask",
                str(first),
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 2
    )


def test_pixtrack_track_from_run_folder_video_and_box(tmp_path, run_dir):
    import imageio.v3 as iio

    from pixtrack_tf.cli import track

    frames = np.full((8, 64, 96, 3), 30, np.uint8)
    for i in range(8):
        frames[i, 20:40, 10 + 4 * i : 30 + 4 * i] = 220
    iio.imwrite(tmp_path / "clip.mp4", frames, fps=8, codec="libx264")
    out = tmp_path / "o"
    assert (
        track.main(
            [
                "--model",
                str(run_dir),
                "--video",
                str(tmp_path / "clip.mp4"),
                "--box",
                "10,20,20,20",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    assert len(list((out / "masks").iterdir())) == 8
    first = np.asarray(Image.open(out / "masks" / "00000.png")) > 0
    assert first.sum() == 400 and first[20:40, 10:30].all()


def test_track_bad_inputs(tmp_path, run_dir, capsys):
    from pixtrack_tf.cli import track

    fdir = tmp_path / "frames"
    fdir.mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(fdir / f"{i:03d}.png")
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "small.png")
    Image.fromarray(np.zeros((40, 50), np.uint8)).save(tmp_path / "empty.png")
    (tmp_path / "nothing").mkdir()
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 100)
    base = ["--model", str(run_dir), "--no-progress"]
    cases = [
        (
            ["--frames", str(fdir), "--mask", str(tmp_path / "small.png"), "--out", str(tmp_path / "a")],
            "small.png: mask is 10x10 but the frames are 50x40",
        ),
        (
            ["--frames", str(fdir), "--mask", str(tmp_path / "empty.png"), "--out", str(tmp_path / "b")],
            "empty.png: the mask is empty",
        ),
        (
            ["--frames", str(tmp_path / "nothing"), "--box", "1,1,5,5", "--out", str(tmp_path / "c")],
            "nothing: no images",
        ),
        (
            ["--video", str(tmp_path / "bad.mp4"), "--box", "1,1,5,5", "--out", str(tmp_path / "d")],
            "bad.mp4: cannot decode video",
        ),
        (["--frames", str(fdir), "--box", "100,100,5,5", "--out", str(tmp_path / "e")], "lies outside"),
    ]
    for args, message in cases:
        assert track.main(base + args) == 2, args
        assert message in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


def test_export_refuses_existing_out_and_missing_run(tmp_path, exported):
    from pixtrack_tf.cli import export

    assert export.main(["--run", str(tmp_path), "--out", str(exported)]) == 2
    assert export.main(["--run", str(tmp_path), "--out", str(tmp_path / "new")]) == 2


def test_half_and_int8_weights_are_smaller_and_close(tmp_path, run_dir, exported):
    from pixtrack_tf.cli import export
    from pixtrack_tf.data.embedded import load_embedded

    seq = load_embedded(seed=4, num_sequences=2, n_frames=20, cache_dir=tmp_path / "emb")[0]
    size = lambda d: sum(f.stat().st_size for f in d.rglob("*") if f.is_file())  # noqa: E731
    ref = SavedModelTracker(exported)
    ref.init(seq.frame(0), seq.mask(0))
    ref_out = [ref.track(seq.frame(i)) for i in range(1, 4)]
    for dtype, max_size in (("float16", 0.55), ("int8", 0.3)):
        out = tmp_path / dtype
        assert export.main(["--run", str(run_dir), "--out", str(out), "--weights-dtype", dtype]) == 0
        assert size(out) < max_size * size(exported)
        tr = SavedModelTracker(out)
        tr.init(seq.frame(0), seq.mask(0))
        for i, r in zip(range(1, 4), ref_out):
            got = tr.track(seq.frame(i))
            # a tiny change of theta moves the ROI's border by a fraction of a pixel: compare on average
            assert np.abs(got.prob - r.prob).mean() < 5e-3, dtype
            np.testing.assert_allclose(got.box, r.box, atol=1.0, err_msg=dtype)


def test_a_bfloat16_savedmodel(tmp_path, run_dir, exported, capsys):
    """export --precision bfloat16: a SavedModel that computes in bfloat16 (pixtrack_export.json says
    so), close to the float32 one; --precision auto tracks with it as it is; asking it for float32 is
    refused with what to do instead."""
    from pixtrack_tf.cli import export
    from pixtrack_tf.data.embedded import load_embedded
    from pixtrack_tf.runs import load_tracker, resolve_precision, saved_precision

    out = tmp_path / "bf16"
    assert export.main(["--run", str(run_dir), "--out", str(out), "--precision", "bfloat16"]) == 0
    assert saved_precision(out) == "bfloat16" and saved_precision(exported) == "float32"
    assert json.loads((out / "MODEL.json").read_text())["precision"] == "bfloat16"
    assert resolve_precision(str(out), "auto")[0] == "bfloat16"
    seq = load_embedded(seed=4, num_sequences=2, n_frames=20, cache_dir=tmp_path / "emb")[0]
    ref, bf = SavedModelTracker(exported), load_tracker(out, "bfloat16")
    ref.init(seq.frame(0), seq.mask(0))
    bf.init(seq.frame(0), [seq.mask(0)])
    for i in range(1, 4):
        assert np.abs(bf.track(seq.frame(i))[0].prob - ref.track(seq.frame(i)).prob).mean() < 0.05
    with pytest.raises(ValueError, match="export --precision float32"):
        load_tracker(out, "float32")


def test_savedmodel_exported_by_an_earlier_version_still_loads(tmp_path):
    """results/models/davis2016-cpu was exported by pixtrack_tf 0.1.0 (before the layer renames of
    0.2.0): a SavedModel needs none of our classes, so it loads and tracks."""
    from pathlib import Path

    from pixtrack_tf.data.embedded import load_embedded

    path = Path(__file__).resolve().parent.parent / "results" / "models" / "davis2016-cpu"
    seq = load_embedded(seed=5, num_sequences=1, n_frames=6, cache_dir=tmp_path / "emb")[0]
    tr = SavedModelTracker(path)
    tr.init(seq.frame(0), seq.mask(0))
    for i in range(1, 4):
        r = tr.track(seq.frame(i))
        assert r.prob.shape == seq.mask(0).shape and np.isfinite(r.prob).all() and r.box[2] > r.box[0]


def test_a_run_that_fine_tunes_its_local_model_exports_and_tracks_honestly(tmp_path, run_dir):
    """track.local_finetune_steps: a SavedModel cannot fine-tune, so the export says so (config 0, left_out);
    several objects get a tracker each, with their own fine-tuned weights (the batched step refuses)."""
    import shutil

    from pixtrack_tf.cli import export
    from pixtrack_tf.config import load_config, save_config
    from pixtrack_tf.data.embedded import load_embedded
    from pixtrack_tf.runs import load_models, load_tracker
    from pixtrack_tf.tracking import MultiObjectTracker
    from pixtrack_tf.tracking.common import PerObject

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    save_config(load_config(run / "config.yaml", ["track.local_finetune_steps=3"]), run / "config.yaml")
    out = tmp_path / "sm"
    assert export.main(["--run", str(run), "--out", str(out)]) == 0
    assert load_config(out / "pixtrack_config.yaml").track.local_finetune_steps == 0
    assert "first-frame fine-tuning" in json.loads((out / "pixtrack_export.json").read_text())["left_out"][0]
    cfg, lm, gm = load_models(run)
    with pytest.raises(ValueError, match="local_finetune_steps"):
        MultiObjectTracker(lm, gm, cfg)
    tracker = load_tracker(run, objects=2)
    assert isinstance(tracker, PerObject) and len(tracker.trackers) == 2
    seq = load_embedded(seed=4, num_sequences=1, n_frames=4, cache_dir=tmp_path / "emb")[0]
    other = np.zeros_like(seq.mask(0))
    other[:8, :8] = True  # a second object elsewhere: its own fine-tuned weights
    tracker.init(seq.frame(0), [seq.mask(0), other])
    a, b = (t.segmenter.tuning.variables for t in tracker.trackers)
    assert max(float(np.abs(np.asarray(x) - np.asarray(y)).max()) for x, y in zip(a, b)) > 0
    assert all(np.isfinite(r.prob).all() for r in tracker.track(seq.frame(1)))


def test_reproduce_reads_an_exported_savedmodel_as_the_two_stage_row(tmp_path, exported, run_dir):
    """``reproduce --run SAVEDMODEL``: the 2-stage row from the exported tracker (the same numbers as
    from its run folder); the rows it cannot give are refused by name."""
    from pixtrack_tf.cli import reproduce

    base = ["--table", "3", "--quick", "--no-progress", "--methods", "2-stage ConvLSTM", "--clips", "1"]
    assert reproduce.main(base + ["--run", str(exported), "--out", str(tmp_path / "sm")]) == 0
    assert reproduce.main(base + ["--run", str(run_dir), "--out", str(tmp_path / "run")]) == 0
    rows = [json.loads((tmp_path / d / "table3.json").read_text())["rows"] for d in ("sm", "run")]
    ours = [[r["iou"] for r in rs if r["source"] == "ours"] for rs in rows]
    assert ours[0] and np.allclose(ours[0], ours[1], atol=0.02)
    bad = base[:-4] + ["--methods", "FCN", "--run", str(exported), "--out", str(tmp_path / "x")]
    assert reproduce.main(bad) == 2
