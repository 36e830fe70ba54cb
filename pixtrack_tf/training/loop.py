"""The generic training loop: tf.function steps inside a tf.distribute strategy, checkpoints that
survive a kill, TensorBoard scalars and images, a progress bar, and a stop on NaN / Inf.

Run folder layout (``out``): ``config.yaml`` (the resolved config), ``run.json`` (provenance:
versions, seed, data, commit, machine), ``ckpt/`` (``tf.train.CheckpointManager``: trainable weights,
optimizer and step), ``tb/`` (TensorBoard), ``model.weights.h5`` (final weights), ``done.json``.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf

from pixtrack_tf import provenance
from pixtrack_tf.config import Config, differing_keys, save_config, saved_config_tree, to_dict
from pixtrack_tf.models.base import restore_trainable, save_trainable  # noqa: F401 (their old home)
from pixtrack_tf.training.snapshot import snapshot_state
from pixtrack_tf.training.tasks import Task, summarize_images


class TrainingDiverged(RuntimeError):
    """The loss became NaN or Inf; the last good checkpoint is kept."""


class RunDirError(RuntimeError):
    """An output folder that cannot be used for this run."""


def configure_determinism(seed: int, deterministic: bool) -> None:
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def make_strategy(name: str = "default"):
    """``default`` (one device), ``mirrored`` (all local devices) or ``multiworker`` (TF_CONFIG)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}: default, mirrored or multiworker")


def prepare_run_dir(out: Path, cfg: Config, resume: bool, force: bool, data: dict) -> None:
    """Create ``out``, or check that it may be resumed. Another run's folder is refused unless
    ``resume`` (same config) or ``force`` (wipe)."""
    out = Path(out)
    cfg_path = out / "config.yaml"
    if out.exists() and any(out.iterdir()):
        if force:
            shutil.rmtree(out)
        elif not resume:
            raise RunDirError(
                f"{out} already holds a run; pass --resume to continue it (same config) or --force to start over"
            )
        elif cfg_path.exists():
            saved = saved_config_tree(cfg_path)
            diff = differing_keys(saved, to_dict(cfg), only_common=True)
            if diff:
                raise RunDirError(
                    f"{out}: --resume with a different config ({', '.join(diff)}); use --force to start over"
                )
            added = differing_keys(saved, to_dict(cfg))
            if added:  # a config written before these keys existed: record the values now in force
                save_config(cfg, cfg_path)
                with open(out / "config_changes.log", "a") as f:
                    f.write(
                        f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} resumed; "
                        f"keys new since the run started: {', '.join(added)}\n"
                    )
    out.mkdir(parents=True, exist_ok=True)
    if not cfg_path.exists():
        save_config(cfg, cfg_path)
    run_json = out / "run.json"
    record = provenance.record(seed=cfg.seed, config=cfg.name, data=data)
    if not run_json.exists():
        run_json.write_text(json.dumps(record, indent=2))
    else:  # a resumed run: what trains now may be another commit's code; say so beside the first record
        first = json.loads(run_json.read_text())
        first.setdefault("resumed", []).append({k: record[k] for k in ("commit", "time_utc", "command", "machine")})
        run_json.write_text(json.dumps(first, indent=2))


class StallMonitor:
    """Tells when a model stops learning, from the logged losses and gradient norms.

    Two signs, checked at every log step: the loss plateau (the mean of the last ``window`` logged
    losses has not beaten the best earlier such mean by ``min_improvement`` (relative) for
    ``patience`` log steps) and the vanishing gradient (the gradient norm below ``grad_fraction``
    of its median over the first ``window`` logs). ``update`` returns a warning text when a stall
    starts (once per stall; it may start again after the model improves), else None; ``stalled``
    is the current state (TensorBoard scalar ``stalled``).
    """

    def __init__(self, window=5, patience=10, min_improvement=0.01, grad_fraction=1e-3):
        self.window, self.patience = int(window), int(patience)
        self.min_improvement, self.grad_fraction = float(min_improvement), float(grad_fraction)
        self.losses, self.gnorms = [], []
        self.best, self.since_best = math.inf, 0
        self.stalled = False

    def update(self, step, loss, gnorm):
        self.losses.append(float(loss))
        self.gnorms.append(float(gnorm))
        reasons = []
        if len(self.losses) >= self.window:
            recent = sum(self.losses[-self.window :]) / self.window
            if recent < self.best - self.min_improvement * abs(self.best) or not math.isfinite(self.best):
                self.best, self.since_best = recent, 0
            else:
                self.since_best += 1
            if self.since_best >= self.patience:
                reasons.append(
                    f"the loss (mean of the last {self.window} logs {recent:.4g}) has not improved on {self.best:.4g} "
                    f"by {self.min_improvement:.0%} in {self.since_best} log steps"
                )
            start = sorted(self.gnorms[: self.window])[self.window // 2]
            if start > 0 and gnorm < self.grad_fraction * start:
                reasons.append(f"the gradient norm fell to {gnorm:.3g} (it was {start:.3g} at the start)")
        was, self.stalled = self.stalled, bool(reasons)
        if self.stalled and not was:
            return f"step {step}: the model seems to have stopped learning: {'; '.join(reasons)}"
        return None


def _restore(task: Task, out: Path, strategy):
    """(model, optimizer, step, checkpoint manager, finished) of a run folder part: from its latest
    checkpoint, else a restored snapshot (:mod:`pixtrack_tf.training.snapshot`), else
    ``task.init_weights``, else new; ``finished`` when a finished part has no
    checkpoints left (e.g. rebuilt from a committed trainable.npz), its weights loaded."""
    with strategy.scope():
        model = task.build_model()
        optimizer = keras.optimizers.Adam(task.lr)
        optimizer.build(model.trainable_variables)
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    weights = {f"w{i:03d}": v for i, v in enumerate(model.trainable_variables)}
    ckpt = tf.train.Checkpoint(weights=weights, optimizer=optimizer, step=step)
    manager = tf.train.CheckpointManager(ckpt, out / "ckpt", max_to_keep=task.cfg.train.keep_checkpoints)
    if not manager.latest_checkpoint and _done_steps(out) >= task.steps:
        model.load_weights(out / "model.weights.h5")
        return model, optimizer, step, manager, True
    if manager.latest_checkpoint:
        ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    elif (restored := snapshot_state(out, model.trainable_variables)) is not None:  # a committed snapshot
        step.assign(restored)
    elif task.init_weights:
        model.load_weights(task.init_weights)
    return model, optimizer, step, manager, False


def fit(task: Task, out, *, strategy=None, progress=True, image_every=None, stop_after=None):
    """Train ``task`` for ``task.steps`` steps into run folder ``out``; resumes from its checkpoint.

    ``stop_after``: stop (with a checkpoint) after this many steps of this call, for tests.
    Returns the trained model. Raises :class:`TrainingDiverged` on a NaN / Inf loss.
    """
    out = Path(out)
    cfg = task.cfg
    tc = cfg.train
    strategy = strategy or tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    global_batch = cfg.data.batch_size
    if global_batch % replicas:
        raise ValueError(f"data.batch_size ({global_batch}) must be a multiple of the {replicas} replicas")
    model, optimizer, step, manager, finished = _restore(task, out, strategy)
    if finished:
        return model
    start = int(step.numpy())
    total = int(task.steps)
    if start >= total:
        if not is_done(out):  # killed between the last checkpoint and the final save
            _finish(model, out, start, total)
        return model
    ds = task.dataset(start * global_batch, global_batch)
    dist = iter(strategy.experimental_distribute_dataset(ds))
    train_step = make_train_step(task, model, optimizer, strategy)

    writer = tf.summary.create_file_writer(str(out / "tb"))
    image_every = image_every or max(tc.log_every * 10, 1)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=start, desc=f"{task.name}", unit="step", dynamic_ncols=True, file=sys.stderr)
    t_last, s_last = time.perf_counter(), start
    done_this_call = 0
    log = open(out / "log.jsonl", "a")
    monitor = StallMonitor()
    try:
        while int(step.numpy()) < total:
            batch = next(dist)
            optimizer.learning_rate.assign(task.lr_at(int(step.numpy())))
            loss, gnorm, scalars = train_step(batch)
            loss_v = float(loss.numpy())
            if not math.isfinite(loss_v):
                msg = (
                    f"{task.name}: loss is {loss_v} at step {int(step.numpy()) + 1}; stopped. "
                    f"The last good checkpoint is kept in {out / 'ckpt'}"
                )
                raise TrainingDiverged(msg)
            step.assign_add(1)
            s = int(step.numpy())
            done_this_call += 1
            now = time.perf_counter()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_v:.4g}", steps_s=f"{(s - s_last) / max(now - t_last, 1e-9):.2f}")
            if s % tc.log_every == 0 or s == total:
                rate = (s - s_last) / max(now - t_last, 1e-9)
                scalars = {**scalars, "learning_rate": optimizer.learning_rate}
                _log_step(task.name, s, loss_v, gnorm, scalars, rate, monitor, writer, log, bar)
                t_last, s_last = now, s
            if s % image_every == 0 and replicas == 1:
                local_batch = batch
                _, extras = task.per_example_loss(model, local_batch, training=False)
                with writer.as_default():
                    summarize_images({f"{task.name}/{k}": v for k, v in task.images(local_batch, extras).items()}, s)
            if s % tc.checkpoint_every == 0 or s == total:
                manager.save(checkpoint_number=s)
            if stop_after is not None and done_this_call >= stop_after:
                manager.save(checkpoint_number=s)
                break
    finally:
        log.close()
        if bar is not None:
            bar.close()
        writer.flush()
    if int(step.numpy()) >= total:
        _finish(model, out, int(step.numpy()), total)
    return model


def _log_step(name, s, loss_v, gnorm, scalars, rate, monitor, writer, log, bar) -> None:
    """Step ``s``'s loss, gradient norm, speed and the task's scalars to TensorBoard and ``log.jsonl``;
    a stall warning (:class:`StallMonitor`) to the user and the log."""
    gnorm_v = float(gnorm.numpy())
    extra = {k: float(v.numpy()) for k, v in scalars.items()}
    warning = monitor.update(s, loss_v, gnorm_v)
    if warning:
        msg = f"WARNING {name}: {warning}. Look at the TensorBoard images and box statistics before training longer."
        (bar.write if bar is not None else print)(msg, file=sys.stderr)
    with writer.as_default():
        tf.summary.scalar("loss", loss_v, step=s)
        tf.summary.scalar("grad_norm", gnorm_v, step=s)
        tf.summary.scalar("steps_per_second", rate, step=s)
        tf.summary.scalar("stalled", float(monitor.stalled), step=s)
        for k, v in extra.items():
            tf.summary.scalar(k, v, step=s)
    record = {"step": s, "loss": loss_v, "grad_norm": gnorm_v, "steps_per_s": rate, **extra, "stalled": monitor.stalled}
    if warning:
        record["warning"] = warning
    log.write(json.dumps(record) + "\n")
    log.flush()


def make_train_step(task: Task, model, optimizer, strategy):
    """The compiled training step of ``task``: loss (Eq. 2 / Eq. 4 averaged over the global batch),
    gradients clipped to ``train.clipnorm``, an update that is skipped on a NaN / Inf loss. Returns
    ``train_step(batch) -> (loss, gradient norm, {scalar name: value})``."""
    global_batch = task.cfg.data.batch_size
    clipnorm = task.cfg.train.clipnorm
    variables = model.trainable_variables

    def replica_step(batch):
        with tf.GradientTape() as tape:
            per_example, extras = task.per_example_loss(model, batch, training=True)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
        grads = tape.gradient(loss, variables)
        grads, gnorm = tf.clip_by_global_norm(grads, clipnorm) if clipnorm else (grads, tf.linalg.global_norm(grads))
        finite = tf.math.is_finite(loss)
        # never apply a NaN/Inf update: the weights stay those of the last good step
        grads = [tf.where(finite, g, tf.zeros_like(g)) for g in grads]
        optimizer.apply_gradients(zip(grads, variables))
        scalars = task.scalars(batch, extras)
        return loss, gnorm, scalars

    @tf.function
    def train_step(batch):
        loss, gnorm, scalars = strategy.run(replica_step, args=(batch,))
        mean = lambda x: strategy.reduce(tf.distribute.ReduceOp.MEAN, x, axis=None)  # noqa: E731
        return (
            strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None),
            mean(gnorm),
            {k: mean(v) for k, v in scalars.items()},
        )

    return train_step


def _finish(model, out: Path, step: int, total: int) -> None:
    model.save_weights(out / "model.weights.h5")
    (out / "done.json").write_text(
        json.dumps(
            {"steps": step, "planned_steps": total, "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        )
    )


def _done_steps(out) -> int:
    """The steps a finished run part records in done.json (0 when it is not finished)."""
    return int(json.loads((Path(out) / "done.json").read_text()).get("steps", 0)) if is_done(out) else 0


def is_done(out) -> bool:
    return (Path(out) / "done.json").exists() and (Path(out) / "model.weights.h5").exists()


def read_log(out) -> list[dict]:
    p = Path(out) / "log.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()] if p.exists() else []


def run_report(out, cfg) -> str:
    """One line on a finished run part: steps, final loss, steps/s and frames/s."""
    log = read_log(out)
    if not log:
        return f"{Path(out).name}: no log"
    rates = [r["steps_per_s"] for r in log[1:]] or [log[-1]["steps_per_s"]]
    rate = sum(rates) / len(rates)
    return (
        f"{Path(out).name}: {log[-1]['step']} steps, final loss {log[-1]['loss']:.4g}, {rate:.3f} steps/s "
        f"({rate * cfg.data.batch_size * cfg.data.seq_len:.1f} frames/s)"
    )
