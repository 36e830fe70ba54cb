"""Choosing the feature-affinity reference's settings on training sequences (``pixtrack
affinity-select``): every candidate of a grid of ``affinity.*`` values tracks every whole sequence
(the DAVIS protocol: initialised from the first frame's mask, J per frame with the first and last
frames left out, averaged per sequence, then over sequences).

The frozen backbone's features depend only on ``affinity.layer``, ``scale`` and ``precision``: they
are computed once per sequence for each such group and every candidate of the group reads them, so
a grid costs one backbone pass per group plus each candidate's propagation.

The rule that picks a candidate is the caller's (docs/REPRODUCTION.md writes down the one used);
this module measures and ranks: J mean per candidate, per sequence, and the seconds per frame of
the propagation alone (the backbone's share is measured by ``pixtrack bench``).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from pathlib import Path

import numpy as np

FEATURE_KEYS = ("layer", "scale", "precision")  # what the backbone's features depend on


def _key(text: str, where: str) -> str:
    from pixtrack_tf.config import AffinityConfig, ConfigError

    known = {f.name for f in dataclasses.fields(AffinityConfig)}
    name = text.strip().removeprefix("affinity.")
    if name not in known:
        raise ConfigError(f"{where}: affinity has no key {name!r}; known: {', '.join(sorted(known))}")
    return name


def expand_grid(grid, candidates=()) -> list[dict]:
    """The candidates as {key: value}: every combination of ``grid`` (``["affinity.scale=0.5,1",
    "affinity.memory=2,4"]``), then each of ``candidates`` (``"affinity.memory=8;affinity.topk=20"``:
    one candidate, ``;`` between keys; ``""``: the config as it is)."""
    import yaml

    from pixtrack_tf.config import ConfigError

    axes = []
    for g in grid:
        if "=" not in g:
            raise ConfigError(f"--grid {g!r} must look like affinity.key=v1,v2")
        key, values = g.split("=", 1)
        axes.append([(_key(key, f"--grid {g!r}"), yaml.safe_load(v)) for v in values.split(",")])
    out = [dict(c) for c in itertools.product(*axes)] if axes else []
    for c in candidates:
        pairs = [p for p in c.split(";") if p.strip()]
        if any("=" not in p for p in pairs):
            raise ConfigError(f"--candidate {c!r} must look like affinity.key=value;affinity.key=value")
        out.append({_key(k, f"--candidate {c!r}"): yaml.safe_load(v) for k, v in (p.split("=", 1) for p in pairs)})
    return out or [{}]


def _sequence_j(probs, seq) -> list[float]:
    from pixtrack_tf.evaluation.metrics import iou

    # frame 0 is the given mask; the last frame is left out (DAVIS)
    return [iou(p > 0.5, seq.mask(i)) for i, p in enumerate(probs[:-1], start=1)]


def run_selection(cfg, sequences, grid, candidates=(), progress=True) -> dict:
    """J of every candidate (:func:`expand_grid`) on whole ``sequences``, each candidate
    ``cfg.affinity`` with its values replaced. Returns ``{"candidates": [...]}``, best J first."""
    from pixtrack_tf.config import AffinityConfig
    from pixtrack_tf.tracking.affinity import AffinityCore, feature_grid

    cands = [{"set": c, "acfg": dataclasses.replace(cfg.affinity, **c)} for c in expand_grid(grid, candidates)]
    for c in cands:
        c.update(per_sequence={}, seconds=0.0, frames=0)
    groups = {}
    for c in cands:
        groups.setdefault(tuple(getattr(c["acfg"], k) for k in FEATURE_KEYS), []).append(c)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(len(s) for s in sequences) * len(groups), desc="affinity-select", unit="frame")
    for key, members in groups.items():
        extractor = AffinityCore(AffinityConfig(**dict(zip(FEATURE_KEYS, key))), cfg.backbone.weights)
        cores = [AffinityCore(c["acfg"], cfg.backbone.weights) for c in members]
        for core in cores:
            core.backbone = extractor.backbone  # one set of weights: only the propagation differs
        for seq in sequences:
            frame0 = seq.frame(0)
            grid_hw = feature_grid(frame0.shape[:2], extractor.acfg)
            feats = []
            for i in range(len(seq)):
                frame = frame0 if i == 0 else seq.frame(i)
                feats.append(extractor.features(frame, grid_hw))
                if bar is not None:
                    bar.update(1)
            for c, core in zip(members, cores):
                memory = core.start(frame0, seq.mask(0)[None], feats=feats[0])
                t = time.perf_counter()
                probs = [core.step(None, memory, feats=f)[0] for f in feats[1:]]
                c["seconds"] += time.perf_counter() - t
                c["frames"] += len(feats) - 1
                c["per_sequence"][seq.name] = float(np.mean(_sequence_j(probs, seq)))
    if bar is not None:
        bar.close()
    out = []
    for c in cands:
        js = list(c["per_sequence"].values())
        out.append(
            {
                "set": c["set"],
                "affinity": dataclasses.asdict(c["acfg"]),
                "J_mean": float(np.mean(js)),
                "per_sequence": c["per_sequence"],
                "propagation_seconds_per_frame": c["seconds"] / max(c["frames"], 1),
            }
        )
    out.sort(key=lambda r: -r["J_mean"])
    return {"candidates": out}


def format_selection(doc: dict) -> str:
    """The candidates as a Markdown table, best J first."""
    keys = sorted({k for c in doc["candidates"] for k in c["set"]})
    if not keys:
        keys = ["scale"]
    head = "| " + " | ".join(keys + ["J mean", "propagation s/frame"]) + " |"
    lines = [head, "|" + "---|" * (len(keys) + 2)]
    for c in doc["candidates"]:
        vals = [str(c["set"].get(k, "")) or f"({c['affinity'][k]})" for k in keys]
        lines.append(
            "| " + " | ".join(vals + [f"{c['J_mean']:.3f}", f"{c['propagation_seconds_per_frame']:.3f}"]) + " |"
        )
    return "\n".join(lines) + "\n"


def write_selection(doc: dict, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "selection.json").write_text(json.dumps(doc, indent=1))
    md = f"# Feature-affinity candidates on {doc['data'].get('split')} ({len(doc['data']['sequences'])} sequences)\n\n"
    md += f"Command: `{doc['command']}`\n\n" + format_selection(doc)
    (out / "selection.md").write_text(md)
    return out / "selection.md"
