"""A run carried over a wiped disk: ``train --snapshot`` keeps each part's trainable weights at its
latest checkpoint, ``train --resume --restore-from`` continues from them at the recorded step."""

import json

import numpy as np
import pytest

from pixtrack_tf.config import load_config


@pytest.fixture(scope="module")
def seqs(tmp_path_factory):
    from pixtrack_tf.data.embedded import load_embedded

    return load_embedded(seed=3, num_sequences=3, n_frames=12, cache_dir=tmp_path_factory.mktemp("emb"))


def _cfg():
    return load_config(
        "tiny", ["train.local_steps=6", "train.global_steps=2", "train.checkpoint_every=2", "train.log_every=1"]
    )


def test_a_snapshot_continues_at_its_step_with_its_weights(tmp_path, seqs):
    from pixtrack_tf.config import save_config
    from pixtrack_tf.training.loop import fit, read_log
    from pixtrack_tf.training.snapshot import restore_snapshot, write_snapshot
    from pixtrack_tf.training.tasks import GlobalTask, LocalTask

    cfg = _cfg()
    run = tmp_path / "run"
    run.mkdir()
    save_config(cfg, run / "config.yaml")
    fit(LocalTask(cfg, seqs, progress=False), run / "local", progress=False, stop_after=4)  # interrupted at 4 of 6
    fit(GlobalTask(cfg, seqs), run / "global", progress=False)  # finished
    parts = write_snapshot(run, tmp_path / "snap")
    assert parts["local"]["step"] == 4 and not parts["local"]["finished"]
    assert parts["global"]["finished"] and parts["global"]["model"] == "GlobalModel"
    assert not (tmp_path / "snap" / "local" / "ckpt").exists()  # no optimizer state, no backbone

    other = tmp_path / "other"  # a later session: a fresh folder, same config
    other.mkdir()
    save_config(cfg, other / "config.yaml")
    assert restore_snapshot(tmp_path / "snap", other) == ["global", "local"]
    import shutil

    import tensorflow as tf

    from pixtrack_tf.training.loop import _restore

    task = LocalTask(cfg, seqs, progress=False)
    strategy = tf.distribute.get_strategy()
    peek = tmp_path / "peek"  # what fit would start from, without a step (on a copy: _restore marks the part)
    shutil.copytree(other / "local", peek)
    resumed, _, step, _, _ = _restore(task, peek, strategy)
    reference, _, ref_step, _, _ = _restore(task, run / "local", strategy)  # the interrupted run's checkpoint
    assert int(step.numpy()) == int(ref_step.numpy()) == 4
    for a, b in zip(resumed.trainable_variables, reference.trainable_variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    fit(task, other / "local", progress=False)
    steps = [r["step"] for r in read_log(other / "local")]
    assert steps == [1, 2, 3, 4, 5, 6]  # the first four from the snapshot's log, then 5 and 6 trained here
    assert json.loads((other / "local" / "restored.json").read_text())["restored_at_step"] == 4
    n_logged = len(read_log(other / "global"))
    fit(GlobalTask(cfg, seqs), other / "global", progress=False)  # finished again without a step
    assert len(read_log(other / "global")) == n_logged and (other / "global" / "done.json").exists()
    assert restore_snapshot(tmp_path / "snap", other) == []  # the run has its own state now


def test_train_snapshot_and_restore_commands(tmp_path, capsys):
    from pixtrack_tf.cli import train

    cfg_args = ["--config", "tiny", "--set", "train.local_steps=4", "--set", "train.checkpoint_every=2"]
    data = ["--dataset", "embedded", "--num-sequences", "3", "--num-frames", "12", "--stage", "local", "--no-progress"]
    assert train.main(cfg_args + data + ["--out", str(tmp_path / "run")]) == 0
    assert train.main(["--out", str(tmp_path / "run"), "--snapshot", str(tmp_path / "snap")]) == 0
    assert "local: step 4 (finished)" in capsys.readouterr().out
    fresh = ["--out", str(tmp_path / "b"), "--restore-from", str(tmp_path / "snap")]
    assert train.main(cfg_args + data + fresh) == 2  # without --resume: refused
    assert "pass --resume" in capsys.readouterr().err
    assert train.main(cfg_args + data + fresh + ["--resume"]) == 0
    assert "restored from" in capsys.readouterr().out and (tmp_path / "b" / "local" / "done.json").exists()
    other = ["--set", "train.local_lr=0.5", "--out", str(tmp_path / "c"), "--restore-from", str(tmp_path / "snap")]
    assert train.main(cfg_args + data + other + ["--resume"]) == 2  # another config: refused, by name
    assert "train.local_lr" in capsys.readouterr().err
    assert train.main(["--out", str(tmp_path / "nothing"), "--snapshot", str(tmp_path / "s2")]) == 2
