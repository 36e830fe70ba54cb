"""Snapshots of a run folder small enough to commit, and a run rebuilt from one in a later session.

A long training outlives a session whose disk is wiped (checkpoints and feature stores with it).
:func:`write_snapshot` (``pixtrack train --out RUN --snapshot DIR``) keeps what the run cannot
recompute cheaply: each model part's trainable weights (from its latest checkpoint, or its final
weights) as a float32 ``.npz`` in the order the checkpoint holds them, with ``progress.json`` (the step
reached, the planned steps, finished or not) and its ``log.jsonl`` / ``done.json``; the run's
``config.yaml``, ``run.json``, ``halves.json``, ``final.json`` and the Sec. 5.1 step-3/5 tracks. The
frozen backbone, the optimizer's moments and TensorBoard files are not kept.

:func:`restore_snapshot` (``pixtrack train ... --resume --restore-from DIR``) puts them back into a run
folder: each part's weights go to ``RUN/<part>/snapshot.npz``, from which :func:`pixtrack_tf.training.
loop.fit` continues at the recorded step with a fresh Adam state (the first steps after a restore
re-estimate the moments; ``restored.json`` in the part says so), and a finished part is finished
again without a step.

A snapshot of a finished run is also a run folder as it stands: ``reproduce --run DIR``, ``pixtrack track
--model DIR`` and ``pixtrack export --average`` read each part's ``snapshot.npz`` where its weights file is
absent (:func:`pixtrack_tf.runs.find_weights`), with no restore.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

# A part's trainable weights (w000, w001, ... in checkpoint order), its progress, and how they are read back:
# defined in pixtrack_tf.runs, below the trainers, so that a finished snapshot loads as its run would.
from pixtrack_tf.runs import SNAPSHOT_PROGRESS as PROGRESS
from pixtrack_tf.runs import SNAPSHOT_WEIGHTS as WEIGHTS
from pixtrack_tf.runs import SnapshotError, assign_snapshot, snapshot_progress

PART_FILES = ("log.jsonl", "done.json", "run.json")
RUN_FILES = ("config.yaml", "config_changes.log", "run.json", "halves.json", "final.json", "store.json")
RUN_ARRAYS = ("step3_tracks.npz", "step5_tracks.npz")


def part_model_class(part: str):
    """The model class a run part trains, from its name (``step1_local_a``, ``step4_global``, ``fcn``...)."""
    from pixtrack_tf.models import model_class

    try:
        return model_class(part)
    except ValueError as e:
        raise SnapshotError(str(e)) from None


def _part_weights(cfg, part_dir: Path):
    """(trainable arrays in checkpoint order, step, planned steps, finished) of one run part."""
    import tensorflow as tf

    from pixtrack_tf.config import DTYPE_POLICIES
    from pixtrack_tf.models.base import saved_backbone_weights
    from pixtrack_tf.training.loop import is_done

    with saved_backbone_weights():  # the backbone's weights are not read: only the trainable ones are kept
        model = part_model_class(part_dir.name).from_cfg(cfg, dtype=DTYPE_POLICIES[cfg.train.precision])
    variables = model.trainable_variables
    latest = tf.train.latest_checkpoint(str(part_dir / "ckpt"))
    done = json.loads((part_dir / "done.json").read_text()) if is_done(part_dir) else None
    if done is not None:
        model.load_weights(part_dir / "model.weights.h5")
        return [np.asarray(v, np.float32) for v in variables], int(done["steps"]), int(done["planned_steps"]), True
    if latest is None:
        return None
    ckpt = tf.train.Checkpoint(weights={f"w{i:03d}": v for i, v in enumerate(variables)})
    ckpt.restore(latest).expect_partial()
    step = int(tf.train.load_variable(latest, "step/.ATTRIBUTES/VARIABLE_VALUE"))
    return [np.asarray(v, np.float32) for v in variables], step, None, False


def write_snapshot(run, dest) -> dict:
    """Write the snapshot of run folder ``run`` into ``dest`` (replacing a previous one part by part);
    returns {part: progress}."""
    from pixtrack_tf.config import load_config

    run, dest = Path(run), Path(dest)
    if not (run / "config.yaml").exists():
        raise SnapshotError(f"{run}: not a training run folder (no config.yaml)")
    cfg = load_config(run / "config.yaml")
    dest.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES + RUN_ARRAYS:
        if (run / name).exists():
            shutil.copy(run / name, dest / name)
    parts = {}
    for part_dir in sorted(
        p for p in run.iterdir() if p.is_dir() and ((p / "ckpt").exists() or (p / "done.json").exists())
    ):
        got = _part_weights(cfg, part_dir)
        if got is None:
            continue
        arrays, step, planned, finished = got
        out = dest / part_dir.name
        out.mkdir(exist_ok=True)
        np.savez_compressed(out / WEIGHTS, **{f"w{i:03d}": a for i, a in enumerate(arrays)})
        progress = {
            "step": step,
            "planned_steps": planned,
            "finished": finished,
            "model": part_model_class(part_dir.name).__name__,
        }
        (out / PROGRESS).write_text(json.dumps(progress, indent=1))
        for name in PART_FILES:
            if (part_dir / name).exists():
                shutil.copy(part_dir / name, out / name)
        parts[part_dir.name] = progress
    if not parts:
        raise SnapshotError(f"{run}: no model part has a checkpoint or final weights yet")
    return parts


def restore_snapshot(src, run) -> list[str]:
    """Put snapshot ``src`` back into run folder ``run`` (whose config.yaml must equal the snapshot's):
    parts already trained further in ``run`` are left alone. Returns the parts restored."""
    from pixtrack_tf.config import differing_keys, saved_config_tree

    src, run = Path(src), Path(run)
    if not (src / "config.yaml").exists():
        raise SnapshotError(f"{src}: not a run snapshot (no config.yaml)")
    diff = differing_keys(
        saved_config_tree(src / "config.yaml"), saved_config_tree(run / "config.yaml"), only_common=True
    )
    if diff:
        raise SnapshotError(f"{src}: the snapshot's config differs from {run}'s ({', '.join(diff)})")
    for name in ("halves.json", "final.json", *RUN_ARRAYS):
        if (src / name).exists() and not (run / name).exists():
            shutil.copy(src / name, run / name)
    restored = []
    for part_src in sorted(p for p in src.iterdir() if (p / PROGRESS).exists()):
        part = run / part_src.name
        if (part / "ckpt").exists() or (part / "done.json").exists() or (part / WEIGHTS).exists():
            continue  # this run has its own state of the part
        part.mkdir(parents=True, exist_ok=True)
        for name in (WEIGHTS, PROGRESS, "log.jsonl"):
            if (part_src / name).exists():
                shutil.copy(part_src / name, part / name)
        restored.append(part_src.name)
    return restored


def snapshot_state(part_dir: Path, variables):
    """The step a part restored from a snapshot continues at (its weights assigned to ``variables``),
    or None when the part has no snapshot. Called by ``fit`` when the part has no checkpoint."""
    part_dir = Path(part_dir)
    if not (part_dir / WEIGHTS).exists():
        return None
    assign_snapshot(part_dir, variables)
    step = int(snapshot_progress(part_dir)["step"])
    note = {
        "restored_at_step": step,
        "optimizer": "new Adam state",
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (part_dir / "restored.json").write_text(json.dumps(note, indent=1))
    return step
