"""`pixtrack track` on real footage: streaming (memory does not grow with the video), damaged frames and
videos, several objects from a palette mask, masks of every kind, quiet start-up, fuzzed readers."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from pixtrack_tf.data.sequence import DataError, read_frame, read_mask, read_object_masks
from pixtrack_tf.runs import load_tracker
from pixtrack_tf.tracking.video import iter_frames, track_video


def _scene(t, hw=(96, 128)):
    """A textured frame with two squares moving right and a disc moving down."""
    h, w = hw
    rng = np.random.default_rng(0)
    img = (rng.integers(0, 60, (h, w, 3)) + 40).astype(np.uint8)
    lab = np.zeros((h, w), np.uint8)
    lab[20:40, 10 + t : 30 + t] = 1
    lab[60:80, 70 + t : 90 + t] = 2
    yy, xx = np.mgrid[:h, :w]
    lab[(yy - (30 + t)) ** 2 + (xx - 100) ** 2 < 100] = 3
    for k, c in ((1, (220, 40, 40)), (2, (40, 220, 40)), (3, (40, 40, 220))):
        img[lab == k] = c
    return img, lab


def _folder(path, n, hw=(96, 128), ext="jpg"):
    path.mkdir(parents=True)
    for t in range(n):
        Image.fromarray(_scene(t % 20, hw)[0]).save(path / f"{t:05d}.{ext}", quality=95)
    return path


def _palette(path, lab):
    im = Image.fromarray(lab, mode="P")
    im.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 756)
    im.save(path)
    return path


def test_memory_does_not_grow_with_the_video(tmp_path):
    """Peak resident memory of a 600-frame and a 60-frame run (same frame size) differ by < 200 MB."""
    hw = (360, 480)
    rss = {}
    for n in (60, 600):
        frames = _folder(tmp_path / f"f{n}", n, hw, ext="png")
        _palette(tmp_path / "m.png", (_scene(0, hw)[1] == 1).astype(np.uint8))
        code = (
            "import resource, sys; from pixtrack_tf.cli import track; "
            f"rc = track.main(['--model', 'first-mask', '--frames', r'{frames}', '--mask', r'{tmp_path / 'm.png'}', "
            f"'--out', r'{tmp_path / f'o{n}'}', '--no-progress']); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)"
        )
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        rss[n] = int(r.stdout.strip().splitlines()[-1]) / 1024  # MB
        assert len(list((tmp_path / f"o{n}" / "masks").glob("*.png"))) == n
    assert abs(rss[600] - rss[60]) < 200, rss


def test_a_damaged_frame_is_skipped_and_reported(tmp_path):
    from pixtrack_tf.cli import track

    frames = _folder(tmp_path / "frames", 12)
    (frames / "00005.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    _palette(tmp_path / "m.png", (_scene(0)[1] == 1).astype(np.uint8))
    out = tmp_path / "out"
    argv = [
        "--model",
        "first-mask",
        "--frames",
        str(frames),
        "--mask",
        str(tmp_path / "m.png"),
        "--out",
        str(out),
        "--no-progress",
    ]
    assert track.main(argv) == 4  # finished, one frame skipped
    masks = sorted(p.stem for p in (out / "masks").glob("*.png"))
    assert masks == [f"{t:05d}" for t in range(12) if t != 5]
    doc = json.loads((out / "track.json").read_text())
    assert doc["status"] == "incomplete" and doc["tracked"] == 11 and doc["skipped"] == 1
    bad = doc["frames"][5]
    assert bad["status"] == "skipped" and "00005.jpg" in bad["reason"]
    assert len((out / "frames.jsonl").read_text().splitlines()) == 12


def test_a_truncated_video_stops_where_decoding_stops(tmp_path):
    import imageio.v2 as imageio

    from pixtrack_tf.cli import track

    path = tmp_path / "clip.mp4"
    with imageio.get_writer(
        path, fps=10, codec="libx264", macro_block_size=2, output_params=["-movflags", "+faststart"]
    ) as w:
        for t in range(30):  # noise of its own in every frame, so that the bytes spread over the frames
            noise = np.random.default_rng(t).integers(0, 40, (96, 128, 3)).astype(np.uint8)
            w.append_data(_scene(t)[0] // 2 + noise)
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    _palette(tmp_path / "m.png", (_scene(0)[1] == 1).astype(np.uint8))
    out = tmp_path / "out"
    argv = [
        "--model",
        "first-mask",
        "--video",
        str(cut),
        "--mask",
        str(tmp_path / "m.png"),
        "--out",
        str(out),
        "--no-progress",
    ]
    assert track.main(argv) == 4
    doc = json.loads((out / "track.json").read_text())
    n = doc["tracked"]
    assert 0 < n < 30 and doc["status"] == "incomplete"
    assert doc["frames"][-1]["status"] == "skipped" and "decoding failed" in doc["frames"][-1]["reason"]
    assert len(list((out / "masks").glob("*.png"))) == n
    (tmp_path / "empty.mp4").write_bytes(b"")
    argv[3] = str(tmp_path / "empty.mp4")
    assert track.main(argv[:-3] + ["--out", str(tmp_path / "o2"), "--no-progress"]) == 2  # nothing to track


def test_interrupt_leaves_a_consistent_folder_and_resume_finishes(tmp_path):
    frames = _folder(tmp_path / "frames", 10)
    masks = {1: _scene(0)[1] == 1}

    def stream(stop_at=None):
        for t, item in enumerate(iter_frames(frames)):
            if t == stop_at:
                raise KeyboardInterrupt
            yield item

    out = tmp_path / "out"
    r = track_video(stream(6), masks, load_tracker("first-mask"), out, progress=False, warn=lambda m: None)
    assert r["status"] == "interrupted"
    doc = json.loads((out / "track.json").read_text())
    assert doc["status"] == "interrupted" and doc["tracked"] == 6
    assert len((out / "frames.jsonl").read_text().splitlines()) == 6 == len(list((out / "masks").glob("*.png")))
    stamp = (out / "masks" / "00002.png").stat().st_mtime_ns
    r = track_video(stream(), masks, load_tracker("first-mask"), out, progress=False, resume=True)
    assert r["status"] == "complete" and r["tracked"] == 10
    assert (out / "masks" / "00002.png").stat().st_mtime_ns == stamp  # kept, not rewritten


def test_three_objects_from_a_palette_mask(tmp_path, run_dir):
    """A 3-object palette mask: the objects are tracked together, the output is a palette PNG with
    values {0, 1, 2, 3}, and every object's ROIs equal those of a run on that object alone."""
    from pixtrack_tf.cli import track

    frames = _folder(tmp_path / "frames", 8)
    lab0 = _scene(0)[1]
    _palette(tmp_path / "all.png", lab0)
    out = tmp_path / "all"
    base = ["--model", str(run_dir), "--frames", str(frames), "--no-progress"]
    assert track.main(base + ["--mask", str(tmp_path / "all.png"), "--out", str(out)]) == 0
    doc = json.loads((out / "track.json").read_text())
    assert doc["objects"] == [1, 2, 3]
    first = Image.open(out / "masks" / "00000.png")
    assert first.mode == "P" and set(np.unique(np.asarray(first))) == {0, 1, 2, 3}
    seen = set()
    for p in (out / "masks").glob("*.png"):
        seen |= set(np.unique(np.asarray(Image.open(p))).tolist())
    assert seen <= {0, 1, 2, 3}
    for k in (1, 2, 3):
        Image.fromarray((lab0 == k).astype(np.uint8) * 255).save(tmp_path / f"m{k}.png")
        single = tmp_path / f"one{k}"
        assert track.main(base + ["--mask", str(tmp_path / f"m{k}.png"), "--out", str(single)]) == 0
        alone = json.loads((single / "track.json").read_text())
        for a, b in zip(doc["frames"], alone["frames"]):
            np.testing.assert_allclose(a["boxes"][k - 1], b["boxes"][0], atol=1e-3)
    two = tmp_path / "two"
    assert track.main(base + ["--mask", str(tmp_path / "all.png"), "--objects", "1,3", "--out", str(two)]) == 0
    assert json.loads((two / "track.json").read_text())["objects"] == [1, 3]
    boxes = ["--box", "10,20,20,20", "--box", "70,60,20,20"]
    assert track.main(base + boxes + ["--out", str(tmp_path / "boxes")]) == 0
    assert set(np.unique(np.asarray(Image.open(tmp_path / "boxes" / "masks" / "00000.png")))) == {0, 1, 2}
    assert track.main(base + ["--mask", str(tmp_path / "all.png"), "--objects", "4", "--out", str(tmp_path / "x")]) == 2


def test_masks_of_every_kind(tmp_path):
    lab = np.zeros((20, 30), np.uint8)
    lab[5:15, 5:20] = 1
    cases = {
        "binary255.png": Image.fromarray(lab * 255),
        "binary01.png": Image.fromarray(lab),
        "rgb.png": Image.fromarray(np.stack([lab * 200] * 3, -1)),
        "rgba.png": Image.fromarray(np.dstack([np.full((20, 30, 3), 128, np.uint8), lab * 255])),
        "sixteen.png": Image.fromarray(lab.astype(np.uint16) * 65535),
    }
    for name, im in cases.items():
        im.save(tmp_path / name)
        warnings = []
        got = read_object_masks(tmp_path / name, warn=warnings.append)
        assert list(got) == [1] and np.array_equal(got[1], lab > 0), name
        assert not warnings, name
    soft = np.tile(np.linspace(0, 255, 30).astype(np.uint8), (20, 1))
    Image.fromarray(soft).save(tmp_path / "soft.png")
    warnings = []
    got = read_object_masks(tmp_path / "soft.png", warn=warnings.append)[1]
    assert warnings and "128" in warnings[0] and "soft.png" in warnings[0]
    assert np.array_equal(got, soft >= 128)


def test_start_up_is_quiet(tmp_path):
    """Nothing from TensorFlow before our own output (on a DAVIS val sequence when there is one)."""
    from conftest import DAVIS_ROOT

    if (DAVIS_ROOT / "JPEGImages" / "480p" / "blackswan").is_dir():
        frames = DAVIS_ROOT / "JPEGImages" / "480p" / "blackswan"
        mask = DAVIS_ROOT / "Annotations" / "480p" / "blackswan" / "00000.png"
    else:
        frames = _folder(tmp_path / "frames", 5)
        mask = _palette(tmp_path / "m.png", (_scene(0)[1] == 1).astype(np.uint8))
    cmd = [sys.executable, "-m", "pixtrack_tf", "track", "--model", "first-mask", "--frames", str(frames)]
    cmd += ["--mask", str(mask), "--out", str(tmp_path / "o"), "--no-progress"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr
    assert r.stdout.startswith("complete: tracked")
    r = subprocess.run(
        cmd[:-3] + ["--out", str(tmp_path / "o2"), "--no-progress", "--verbose"], capture_output=True, text=True
    )
    assert r.returncode == 0 and r.stderr  # --verbose lets TensorFlow speak


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PNG = None


def _valid_png() -> bytes:
    global _PNG
    if _PNG is None:
        import io

        buf = io.BytesIO()
        Image.fromarray(_scene(0)[0]).save(buf, format="PNG")
        _PNG = buf.getvalue()
    return _PNG


damaged = st.one_of(
    st.binary(max_size=2000),
    st.integers(0, 3000).map(lambda n: _valid_png()[:n]),  # truncated PNG
    st.tuples(st.integers(0, 3000), st.binary(min_size=1, max_size=50)).map(
        lambda a: _valid_png()[: a[0]] + a[1] + _valid_png()[a[0] + len(a[1]) :]
    ),  # corrupted bytes inside a valid file
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=damaged)
def test_readers_refuse_damaged_files_with_data_error(tmp_path, data):
    """Random, truncated and corrupted bytes: every reader ends in DataError naming the file, or reads
    a valid image; never another exception."""
    for suffix, read in ((".png", read_frame), (".png", read_mask), (".png", read_object_masks), (".mp4", None)):
        path = tmp_path / f"x{suffix}"
        path.write_bytes(data)
        try:
            if read is None:
                list(iter_frames(video=path))
            else:
                read(path)
        except DataError as e:
            assert str(path) in str(e)


def _slow_masks(monkeypatch, fail_at=None):
    """The writer thread made slow (and failing at frame ``fail_at``): it lags behind the tracker."""
    import time as _time

    from pixtrack_tf.tracking import video

    real = video._save_mask

    def slow(path, labels, several):
        _time.sleep(0.05)
        if fail_at is not None and path.stem == f"{fail_at:05d}":
            raise OSError(f"{path}: no space left on device")
        real(path, labels, several)

    monkeypatch.setattr(video, "_save_mask", slow)


class _StopAt:
    """A tracker that is interrupted (Ctrl-C) at its ``n``-th step, in the tracking thread."""

    def __init__(self, n):
        self.inner, self.n, self.k = load_tracker("first-mask"), n, 0

    def init(self, frame, masks):
        return self.inner.init(frame, masks)

    def track(self, frame):
        self.k += 1
        if self.k == self.n:
            raise KeyboardInterrupt
        return self.inner.track(frame)


def test_the_writer_thread_loses_no_frame_on_ctrl_c_or_an_error(tmp_path, monkeypatch):
    """Outputs are written behind the tracker (a writer thread): on Ctrl-C every frame tracked before
    it has its mask, its frames.jsonl line and its track.json record; a writing error stops the run
    with status failed, the masks written before it kept and the log saying exactly those."""
    frames = _folder(tmp_path / "frames", 12)
    masks = {1: _scene(0)[1] == 1}
    _slow_masks(monkeypatch)
    out = tmp_path / "ctrl-c"
    r = track_video(iter_frames(frames), masks, _StopAt(8), out, progress=False, warn=lambda m: None)
    doc = json.loads((out / "track.json").read_text())
    assert r["status"] == doc["status"] == "interrupted" and doc["tracked"] == 8
    assert len((out / "frames.jsonl").read_text().splitlines()) == 8 == len(list((out / "masks").glob("*.png")))
    assert set(doc["timing"]) == {"decode_s", "model_s", "write_s", "wall_s"} and doc["timing"]["write_s"] > 0.3

    _slow_masks(monkeypatch, fail_at=5)
    out = tmp_path / "full-disk"
    with pytest.raises(OSError, match="no space left"):
        track_video(iter_frames(frames), masks, load_tracker("first-mask"), out, progress=False)
    doc = json.loads((out / "track.json").read_text())
    assert doc["status"] == "failed" and "no space left" in doc["error"]
    written = sorted(p.stem for p in (out / "masks").glob("*.png"))
    logged = [json.loads(line)["frame"] for line in (out / "frames.jsonl").read_text().splitlines()]
    assert written == logged == [f"{i:05d}" for i in range(5)]


def test_no_overlay_writes_masks_only_and_the_precision_is_recorded(tmp_path):
    from pixtrack_tf.cli import track

    frames = _folder(tmp_path / "frames", 5)
    _palette(tmp_path / "m.png", (_scene(0)[1] == 1).astype(np.uint8))
    out = tmp_path / "o"
    argv = ["--model", "first-mask", "--frames", str(frames), "--mask", str(tmp_path / "m.png"), "--out", str(out)]
    assert track.main(argv + ["--no-overlay", "--no-progress"]) == 0
    doc = json.loads((out / "track.json").read_text())
    assert doc["overlay"] is None and not list(out.glob("overlay.*")) and len(list((out / "masks").glob("*"))) == 5
    assert doc["precision"] == "float32" and doc["precision_reason"]  # first-mask: no network to speed up
    assert track.main(argv + ["--force", "--no-progress"]) == 0 and (out / "overlay.mp4").exists()


def test_auto_precision_is_float32_without_native_bfloat16(tmp_path, monkeypatch):
    """--precision auto: float32 on a CPU without AMX / AVX512-BF16 (simulated) and where bfloat16
    does not measure faster; bfloat16 where it does; always float32 for a SavedModel."""
    from pixtrack_tf import hardware
    from pixtrack_tf.runs import resolve_precision

    never = lambda: pytest.fail("no measurement without native bfloat16")  # noqa: E731
    assert hardware.auto_precision(flags={"avx2", "fma"}, measure=never)["precision"] == "float32"
    assert hardware.auto_precision(flags={"avx512_bf16"}, measure=lambda: 1.02)["precision"] == "float32"
    fast = hardware.auto_precision(flags={"amx_bf16", "avx512_bf16"}, measure=lambda: 3.0)
    assert fast["precision"] == "bfloat16" and "3.00x" in fast["reason"]
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx2"})
    assert resolve_precision("affinity", "auto") == (
        "float32",
        {"precision": "float32", "precision_reason": "no native bfloat16 on this CPU (no AMX, no AVX512-BF16)"},
    )
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"")
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"amx_bf16"})
    assert resolve_precision(str(tmp_path / "sm"), "auto")[0] == "float32"
    assert resolve_precision("affinity", "bfloat16")[0] == "bfloat16"  # asked for: used as it is
    # the measurement is cached per CPU
    monkeypatch.setenv("PIXTRACK_CACHE", str(tmp_path / "cache"))
    calls = []
    monkeypatch.setattr(hardware, "measure_bf16_speedup", lambda: calls.append(1) or 2.0)
    for _ in range(2):
        assert hardware.auto_precision()["precision"] == "bfloat16"
    assert len(calls) == 1
