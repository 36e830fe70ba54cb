"""Eq. 2 and Eq. 4, the training loop (falling loss, MirroredStrategy, SIGKILL + resume, NaN stop),
the run folder rules and the Sec. 5.1 procedure."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from pixtrack_tf.config import load_config
from pixtrack_tf.models.losses import cross_entropy_sum, global_loss, local_loss, total_variation, weighted_l2

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- Eq. 2 ----------------------------------------------------------------------------------------
def test_eq2_cross_entropy_and_total_variation_by_hand():
    p = np.array([[0.9, 0.2], [0.6, 0.1]], np.float32).reshape(1, 2, 2, 1)
    y = np.array([[1, 0], [1, 0]], np.float32).reshape(1, 2, 2, 1)
    ce = -(np.log(0.9) + np.log(0.8) + np.log(0.6) + np.log(0.9))
    np.testing.assert_allclose(cross_entropy_sum(p, y), [ce], rtol=1e-5)
    # V = |0.6-0.9| + |0.1-0.2| (vertical) + |0.2-0.9| + |0.1-0.6| (horizontal) = 0.3+0.1+0.7+0.5
    np.testing.assert_allclose(total_variation(p), [1.6], rtol=1e-5)
    # two frames: L sums over time, V is averaged over time, then lambda * min(beta, .)
    probs = np.stack([p[0], p[0]])[None]  # (1, 2, 2, 2, 1)
    targets = np.stack([y[0], y[0]])[None]
    np.testing.assert_allclose(
        local_loss(probs, targets, tv_lambda=0.5, tv_beta=1000.0, reduction="sum"), [2 * ce + 0.5 * 1.6], rtol=1e-5
    )
    np.testing.assert_allclose(
        local_loss(probs, targets, tv_lambda=0.5, tv_beta=1.0, reduction="sum"), [2 * ce + 0.5 * 1.0], rtol=1e-5
    )


# -- Eq. 4 ----------------------------------------------------------------------------------------
def test_eq4_weighted_l2_smoothness_and_burn_in_by_hand():
    z = np.zeros((1, 2, 2, 1), np.float32)
    z[0, 0, 0, 0] = 1
    box = np.full((1, 2, 2, 1), 0.5, np.float32)
    # (10 * 0.25 + 3 * 0.25) / 4
    np.testing.assert_allclose(weighted_l2(box, z, 10.0), [(10 * 0.25 + 3 * 0.25) / 4], rtol=1e-6)
    T = 4
    theta = np.array([[[1, 0, 0], [1.1, 0, 0], [1.1, 0.2, 0], [1.1, 0.2, -0.1]]], np.float32)
    boxes = np.repeat(box[:, None], T, axis=1)
    targets = np.repeat(z[:, None], T, axis=1)
    l_data = (10 * 0.25 + 3 * 0.25) / 4
    smooth = [0.0, 0.01, 0.04, 0.01]
    # i = 3: frames t = 3, 4 (1-based) only
    expected = sum(l_data + 2.0 * smooth[t - 1] for t in (3, 4))
    np.testing.assert_allclose(global_loss(theta, boxes, targets, 10.0, 2.0, loss_from=3), [expected], rtol=1e-5)
    expected_all = sum(l_data + 2.0 * s for s in smooth)
    np.testing.assert_allclose(global_loss(theta, boxes, targets, 10.0, 2.0, loss_from=1), [expected_all], rtol=1e-5)


# -- the loop -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def seqs(tmp_path_factory):
    from pixtrack_tf.data.embedded import load_embedded

    return load_embedded(seed=2, num_sequences=4, n_frames=20, cache_dir=tmp_path_factory.mktemp("emb"))


def test_tiny_local_run_loss_falls(tmp_path, seqs):
    from pixtrack_tf.training.loop import fit, read_log
    from pixtrack_tf.training.tasks import LocalTask

    cfg = load_config("tiny", ["train.local_steps=40", "train.log_every=1", "train.checkpoint_every=20"])
    fit(LocalTask(cfg, seqs), tmp_path / "local", progress=False)
    losses = [r["loss"] for r in read_log(tmp_path / "local")]
    assert len(losses) == 40 and all(np.isfinite(losses))
    assert np.mean(losses[-8:]) < 0.85 * np.mean(losses[:8])
    assert (tmp_path / "local" / "model.weights.h5").exists() and (tmp_path / "local" / "done.json").exists()
    assert any(p.name.startswith("events") for p in (tmp_path / "local" / "tb").iterdir())


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, seqs):
    from pixtrack_tf.training.loop import TrainingDiverged, fit
    from pixtrack_tf.training.tasks import GlobalTask

    cfg = load_config("tiny", ["train.global_steps=10", "train.checkpoint_every=2"])

    class Exploding(GlobalTask):
        calls = tf.Variable(0)

        def per_example_loss(self, model, batch, training=True):
            loss, extras = super().per_example_loss(model, batch, training)
            self.calls.assign_add(1)
            return tf.where(self.calls > 5, np.float32(np.nan), loss), extras

    with pytest.raises(TrainingDiverged, match="loss is nan at step 6"):
        fit(Exploding(cfg, seqs), tmp_path / "g", progress=False)
    ckpt = tf.train.latest_checkpoint(str(tmp_path / "g" / "ckpt"))
    assert ckpt.endswith("ckpt-4")
    reader = tf.train.load_checkpoint(ckpt)
    for name in reader.get_variable_to_shape_map():
        if name.startswith("weights/"):
            assert np.all(np.isfinite(reader.get_tensor(name)))
    assert not (tmp_path / "g" / "done.json").exists()


def test_two_steps_under_mirrored_strategy_on_two_cpus(tmp_path):
    code = f"""
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from pixtrack_tf.config import load_config
from pixtrack_tf.data.embedded import load_embedded
from pixtrack_tf.training.loop import fit, read_log, make_strategy
from pixtrack_tf.training.tasks import LocalTask, GlobalTask
strategy = make_strategy("mirrored")
assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
cfg = load_config("tiny", ["train.local_steps=2", "train.global_steps=2", "train.log_every=1"])
seqs = load_embedded(seed=2, num_sequences=4, n_frames=20, cache_dir={str(tmp_path / "emb")!r})
for task, name in ((LocalTask(cfg, seqs), "local"), (GlobalTask(cfg, seqs), "global")):
    fit(task, {str(tmp_path)!r} + "/" + name, strategy=strategy, progress=False)
    log = read_log({str(tmp_path)!r} + "/" + name)
    assert [r["step"] for r in log] == [1, 2] and all(r["loss"] == r["loss"] for r in log), log
print("OK")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr[-3000:]


def _train_cmd(out, steps, extra=()):
    return [
        sys.executable,
        "-m",
        "pixtrack_tf",
        "train",
        "--config",
        "tiny",
        "--dataset",
        "embedded",
        "--num-sequences",
        "4",
        "--num-frames",
        "20",
        "--out",
        str(out),
        "--stage",
        "local",
        "--no-progress",
        "--deterministic",
        "--set",
        f"train.local_steps={steps}",
        "--set",
        "train.checkpoint_every=1",
        *extra,
    ]


def _weights(path):
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, obj: out.__setitem__(name, np.asarray(obj)) if isinstance(obj, h5py.Dataset) else None
        )
    return out


def test_sigkill_mid_run_then_resume_matches_uninterrupted(tmp_path):
    env = dict(os.environ, PIXTRACK_CACHE=str(tmp_path / "cache"))
    steps = 14
    full = subprocess.run(_train_cmd(tmp_path / "full", steps), env=env, capture_output=True, text=True, timeout=600)
    assert full.returncode == 0, full.stderr[-3000:]
    proc = subprocess.Popen(
        _train_cmd(tmp_path / "killed", steps), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    ckdir = tmp_path / "killed" / "local" / "ckpt"
    deadline = time.time() + 300
    while time.time() < deadline:
        ck = tf.train.latest_checkpoint(str(ckdir)) if ckdir.exists() else None
        if ck and int(ck.rsplit("-", 1)[1]) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = int(tf.train.latest_checkpoint(str(ckdir)).rsplit("-", 1)[1])
    assert killed_at < steps, "the run finished before it could be killed"
    assert not (tmp_path / "killed" / "local" / "done.json").exists()
    again = subprocess.run(
        _train_cmd(tmp_path / "killed", steps, ["--resume"]), env=env, capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0, again.stderr[-3000:]
    log = [json.loads(line) for line in (tmp_path / "killed" / "local" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == steps and all(np.isfinite(r["loss"]) for r in log)
    a, b = (
        _weights(tmp_path / "full" / "local" / "model.weights.h5"),
        _weights(tmp_path / "killed" / "local" / "model.weights.h5"),
    )
    assert a.keys() == b.keys() and len(a) > 10
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_out_folder_rules(tmp_path, monkeypatch, capsys):
    from pixtrack_tf.cli import train

    monkeypatch.setenv("PIXTRACK_CACHE", str(tmp_path / "cache"))
    base = [
        "--config",
        "tiny",
        "--dataset",
        "embedded",
        "--num-sequences",
        "4",
        "--num-frames",
        "20",
        "--out",
        str(tmp_path / "run"),
        "--stage",
        "global",
        "--no-progress",
        "--set",
        "train.global_steps=2",
    ]
    assert train.main(base) == 0
    assert train.main(base) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert train.main(base + ["--resume", "--set", "global.fc_units=8"]) == 2
    assert "different config (global.fc_units)" in capsys.readouterr().err
    assert train.main(base + ["--resume"]) == 0
    # a run whose saved config predates a key (written by an older version) still resumes
    import yaml

    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    del saved["train"]["refine_gt_fraction"]
    (tmp_path / "run" / "config.yaml").write_text(yaml.safe_dump(saved))
    assert train.main(base + ["--resume"]) == 0
    assert "refine_gt_fraction" in (tmp_path / "run" / "config_changes.log").read_text()
    # each resume is recorded beside the first record: the code that trains may be another commit's
    resumed = json.loads((tmp_path / "run" / "run.json").read_text())["resumed"]
    assert len(resumed) == 2 and {"commit", "time_utc", "command"} <= set(resumed[-1])
    assert train.main(base + ["--force"]) == 0
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert {"commit", "versions", "machine", "seed", "data"} <= set(run) and run["data"]["dataset"] == "embedded"
    assert "resumed" not in run


def test_iterative_procedure_runs_and_resumes(tmp_path, seqs):
    from pixtrack_tf.runs import load_models
    from pixtrack_tf.training.iterative import run_iterative, steps_done

    cfg = load_config("tiny", ["train.local_steps=2", "train.global_steps=2", "train.refine_steps=2"])
    run_iterative(cfg, seqs, tmp_path, progress=False)
    assert len(steps_done(tmp_path)) == 7
    tracks = np.load(tmp_path / "step3_tracks.npz")
    name = seqs[0].name
    assert tracks[f"{name}/pred"].shape == (len(seqs[0]), cfg.global_.map_size, cfg.global_.map_size)
    assert tracks[f"{name}/boxes"].shape == (len(seqs[0]), 4)
    mtime = (tmp_path / "step2_global" / "model.weights.h5").stat().st_mtime
    run_iterative(cfg, seqs, tmp_path, progress=False)  # everything done: nothing retrained
    assert (tmp_path / "step2_global" / "model.weights.h5").stat().st_mtime == mtime
    from pixtrack_tf.config import save_config

    save_config(cfg, tmp_path / "config.yaml")
    _, lm, gm = load_models(tmp_path)
    assert lm is not None and gm is not None


def test_stall_monitor_warns_on_a_plateau_and_on_a_vanishing_gradient():
    from pixtrack_tf.training.loop import StallMonitor

    falling = StallMonitor(window=3, patience=4)
    assert all(falling.update(s, 100.0 / (s + 1), 1.0) is None for s in range(40))
    flat = StallMonitor(window=3, patience=4)
    msgs = [flat.update(s, 5.0 + 0.001 * (s % 2), 1.0) for s in range(20)]
    assert sum(m is not None for m in msgs) == 1 and "has not improved" in next(m for m in msgs if m)
    assert flat.stalled
    dead = StallMonitor(window=3, patience=100)
    msgs = [dead.update(s, 10.0 - s, 1.0 if s < 5 else 1e-5) for s in range(10)]
    assert any(m and "gradient norm fell" in m for m in msgs)


def test_global_loss_box_term_has_a_gradient_where_eq4_is_flat():
    """A box covering the whole map: Eq. 4's data term is flat in theta, the box term is not."""
    import tensorflow as tf

    from pixtrack_tf.layers.transformer import AnchorTransformer, object_theta

    S = 32
    z = np.zeros((1, 2, S, S, 1), np.float32)
    z[:, :, 4:10, 4:10] = 1
    aspect = np.ones((2, 1), np.float32)
    render = AnchorTransformer(S, (0.5, 0.5), softness=1.0)
    theta = tf.Variable(np.array([[[20.0, 0.0, 0.0], [20.0, 0.0, 0.0]]], np.float32))  # far larger than the map
    target, valid = object_theta(z.reshape(-1, S, S, 1), aspect, 0.5)
    for box_lambda, nonzero in ((0.0, False), (10.0, True)):
        with tf.GradientTape() as tape:
            boxes = tf.reshape(render(tf.reshape(theta, (-1, 3)), aspect), (1, 2, S, S, 1))
            loss = global_loss(
                theta, boxes, z, 10.0, 0.0, 1, box_lambda, tf.reshape(target, (1, 2, 3)), tf.reshape(valid, (1, 2))
            )
        g = float(tf.norm(tape.gradient(loss, theta)))
        assert (g > 1e-3) == nonzero, (box_lambda, g)


def test_global_loss_frame_weight_removes_a_frame_entirely():
    """Sec. 5.1 step 4's frame selection: a frame of weight 0 adds nothing; without the smoothness
    term (which ties it to its neighbours) its theta gets no gradient."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    theta = tf.Variable(rng.uniform(0.5, 1.0, (1, 3, 3)).astype(np.float32))
    boxes = tf.constant(rng.uniform(size=(1, 3, 8, 8, 1)).astype(np.float32))
    targets = (rng.uniform(size=(1, 3, 8, 8, 1)) > 0.5).astype(np.float32)
    w = np.array([[1.0, 0.0, 1.0]], np.float32)
    target_theta, valid = np.ones((1, 3, 3), np.float32), np.ones((1, 3), bool)
    with tf.GradientTape() as tape:
        loss = global_loss(theta, boxes, targets, 10.0, 0.0, 1, 10.0, target_theta, valid, frame_weight=w)
    other = targets.copy()
    other[:, 1] = 1 - other[:, 1]  # another target at the left-out frame
    np.testing.assert_allclose(
        loss, global_loss(theta, boxes, other, 10.0, 0.0, 1, 10.0, target_theta, valid, frame_weight=w), rtol=1e-6
    )
    assert float(global_loss(theta, boxes, other, 10.0, 0.0, 1, 10.0, target_theta, valid)[0]) != pytest.approx(
        float(loss[0])
    )
    g = tape.gradient(loss, theta).numpy()
    assert np.all(g[:, 1] == 0) and np.any(g[:, 0] != 0)


def test_paper_config_reaches_dilation_zero():
    from pixtrack_tf.config import load_config
    from pixtrack_tf.data.pipelines import dilation_kernel, scaled_kernels

    cfg = load_config("paper")
    kernels = scaled_kernels(cfg.data.global_dilation, cfg.global_.map_size)
    assert dilation_kernel(cfg.train.global_steps - 1, kernels, cfg.train.dilation_every) == 0
    assert scaled_kernels((31, 21, 11, 5, 0), 112) == (15, 11, 5, 3, 0)


def test_a_finished_part_rebuilt_from_trainable_weights_is_not_trained_again(tmp_path, seqs):
    """A run part with done.json and model.weights.h5 but no checkpoints (rebuilt from a committed
    trainable.npz, as results/davis2016/README.md says to) is kept by fit: no step is trained, nothing logged."""
    from pixtrack_tf.models import GlobalModel
    from pixtrack_tf.training.loop import fit, read_log
    from pixtrack_tf.training.tasks import GlobalTask

    cfg = load_config("tiny", ["train.global_steps=3"])
    part = tmp_path / "global"
    part.mkdir()
    gm = GlobalModel.from_cfg(cfg)
    gm.fc2.bias.assign([0.3, 0.1, -0.2])
    gm.save_weights(part / "model.weights.h5")
    (part / "done.json").write_text(json.dumps({"steps": 3, "planned_steps": 3}))
    model = fit(GlobalTask(cfg, seqs), part, progress=False)
    np.testing.assert_allclose(np.asarray(model.fc2.bias), [0.3, 0.1, -0.2], rtol=1e-6)
    assert not read_log(part) and not (part / "ckpt").exists()
    # asked for more steps than it records, it trains them
    fit(GlobalTask(cfg, seqs, steps=4), part, progress=False)
    assert [r["step"] for r in read_log(part)][-1] == 4


def test_trainable_weights_round_trip(tmp_path, tiny_cfg):
    """save_trainable keeps only what training changed; restore_trainable puts it back."""
    import numpy as np

    from pixtrack_tf.models import LocalModel
    from pixtrack_tf.training.loop import restore_trainable, save_trainable

    lm = LocalModel.from_cfg(tiny_cfg)
    for w in lm.trainable_variables:
        w.assign(np.random.default_rng(1).normal(0, 0.1, w.shape).astype("float32"))
    path = save_trainable(lm, tmp_path / "w.npz")
    assert len(np.load(path).files) == len(lm.trainable_variables) < len(lm.variables)
    other = LocalModel.from_cfg(tiny_cfg)
    restore_trainable(other, path)
    for a, b in zip(lm.trainable_variables, other.trainable_variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    from pixtrack_tf.models import GlobalModel

    with pytest.raises(ValueError, match="do not fit"):
        restore_trainable(GlobalModel.from_cfg(tiny_cfg), path)
