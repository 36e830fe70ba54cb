"""A "model soup" of pixtrack+ decoders (not the paper): the uniform average of the trainable weights of
several runs trained from one initialisation (Wortsman et al. 2022, "Model soups: averaging weights of
multiple fine-tuned models improves accuracy without increasing inference time"). The average is the
same network, so it tracks at the same speed as each of its ingredients; whether it tracks better is
for the train halves to say (results/davis2016/plus/selection/RULE.md, round 18).

``pixtrack export --average RUN RUN [...] --out OUT`` writes it as a compact run folder (``config.yaml``
of the first run, ``final.json``, ``plus.npz``, ``MODEL.json`` naming every ingredient with its
provenance), which everything that reads a run folder tracks with. An ingredient is a training run
folder (``train --stage plus``), a compact run (a bundled model), or a snapshot folder (``train
--snapshot``) of a finished run. Runs whose decoders differ in shape are refused; runs with different
seeds start from different weights, which averaging does not undo: they are refused too.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from pixtrack_tf.config import load_config
from pixtrack_tf.runs import find_weights, load_trained


class SoupError(ValueError):
    """Runs that cannot be averaged (the message names the run and why)."""


def plus_arrays(run) -> dict[str, np.ndarray]:
    """{variable path: float32 array} of the trainable weights of a run's pixtrack+ decoder: from its
    trained weights (a run folder or a compact run), else from a snapshot of a finished run."""
    return _decoder(Path(run))[1]


def _decoder(run: Path):
    """(the run's config, :func:`plus_arrays`)."""
    from pixtrack_tf.models.plus import PlusModel
    from pixtrack_tf.runs import SNAPSHOT_WEIGHTS, snapshot_progress

    if not (run / "config.yaml").exists():
        raise SoupError(f"{run}: not a run folder, compact run or snapshot (no config.yaml)")
    cfg = load_config(run / "config.yaml", ["track.precision=float32"])
    weights = find_weights(run)
    if "plus" not in weights:
        progress = snapshot_progress(run / "plus")
        if progress and not progress.get("finished"):
            raise SoupError(f"{run}: its snapshot is of an unfinished training ({progress}); finish it first")
        raise SoupError(
            f"{run}: no trained pixtrack+ decoder (plus/model.weights.h5, plus.npz or plus/{SNAPSHOT_WEIGHTS})"
        )
    model = load_trained(PlusModel, cfg, weights["plus"])
    return cfg, {v.path: np.asarray(v, np.float32) for v in model.trainable_variables}


def average_plus(runs) -> tuple[dict[str, np.ndarray], list[dict]]:
    """(the uniform average of the runs' decoder weights, each run's {path, seed, provenance}).
    Refuses fewer than two runs, decoders of other shapes, and runs of another seed than the first's."""
    runs = [Path(r) for r in runs]
    if len(runs) < 2:
        raise SoupError(f"an average needs at least two runs, got {len(runs)}")
    arrays, about = [], []
    for run in runs:
        cfg, decoder = _decoder(run)
        arrays.append(decoder)
        seed = cfg.seed
        about.append({"path": str(run), "seed": seed, "trained_by": _provenance(run)})
        if {k: v.shape for k, v in decoder.items()} != {k: v.shape for k, v in arrays[0].items()}:
            raise SoupError(f"{run}: its decoder's weights differ from {runs[0]}'s in names or shapes")
        if seed != about[0]["seed"]:
            raise SoupError(
                f"{run}: seed {seed}, {runs[0]} seed {about[0]['seed']}: runs of other seeds start from other "
                "weights, and their average is not a model of either"
            )
    return {k: np.mean([a[k] for a in arrays], axis=0) for k in arrays[0]}, about


def write_average_run(runs, out, what: str = "") -> Path:
    """Write the compact run ``out`` (:func:`pixtrack_tf.runs.write_compact_run`'s form) holding the average
    of ``runs``' pixtrack+ decoders, the first run's config, and a ``MODEL.json`` naming the ingredients."""
    from pixtrack_tf import provenance

    mean, about = average_plus(runs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(runs[0]) / "config.yaml", out / "config.yaml")
    np.savez_compressed(out / "plus.npz", **mean)
    (out / "final.json").write_text(json.dumps({"plus": "plus.npz"}, indent=1))
    info = {
        "what": what or f"pixtrack+ (not the paper): the average of {len(about)} decoders' weights (a model soup)",
        "parts": {"plus": "plus.npz"},
        "average_of": about,
        "written_by": provenance.record(),
    }
    (out / "MODEL.json").write_text(json.dumps(info, indent=1))
    return out


def _provenance(run: Path) -> dict:
    """What trained a run: its ``run.json``, or a compact run's ``MODEL.json`` ``trained_by``."""
    if (run / "run.json").exists():
        return json.loads((run / "run.json").read_text())
    if (run / "MODEL.json").exists():
        return json.loads((run / "MODEL.json").read_text()).get("trained_by", {})
    return {}
