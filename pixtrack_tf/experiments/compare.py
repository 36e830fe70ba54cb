"""Put several ``reproduce`` results side by side (ablations, precisions, runs)::

    pixtrack compare --result control=runs/eval-abl-control/table2.json \\
        --result no-peepholes=runs/eval-abl-no-peepholes/table2.json --out results/davis2016/ablations.md

Reads the ``tableN.json`` files that ``reproduce`` wrote (nothing is recomputed) and writes one
Markdown table (and a JSON twin): our IoU at each threshold and clip length, the pixel ROC AUC, and
DAVIS J / F when the result has them. With ``--reference LABEL``, every other result also gets its
difference to that one (the same clips and sequences are compared: ``reproduce`` seeds its clips).
``--claim "TEXT: A > B"`` states a claim about two results (e.g. the paper's ablations: "frame
replacement helps: control > no frame replacement") and computes whether it holds, by the rule of
:mod:`pixtrack_tf.experiments.claims`: A above B at every (threshold, length) cell of their common method,
and, where both results have DAVIS measures of it, above B in J mean over whole sequences (a claim of its
own, as ``reproduce`` states it). A side of a claim may name several results joined by ``|``, the same
model trained with different seeds (``"peepholes help: control|control-s1 > no peepholes"``): then
:func:`seeded_claim` decides by the seeds' spread.
"""

from __future__ import annotations

import json
from pathlib import Path

from pixtrack_tf.experiments.claims import J_SUFFIX, format_claims, j_cell
from pixtrack_tf.experiments.claims import compare as compare_cells


def load_results(pairs) -> dict:
    """``["label=path", ...]`` -> {label: table document}; a clear error names a bad argument or file."""
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--result {pair!r}: expected LABEL=PATH/tableN.json")
        label, path = pair.split("=", 1)
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such result (run python -m pixtrack_tf.reproduce first)")
        try:
            out[label] = json.loads(p.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{p}: not a reproduce result ({e})") from None
        out[label]["_path"] = str(p)
    return out


def rows_of(label: str, doc: dict) -> list[dict]:
    """One row per (method) of one result: IoU per (threshold, length), AUC, DAVIS J/F means."""
    davis = {r["method"]: r for r in doc.get("davis", [])}
    by_method: dict[str, dict] = {}
    for r in doc["rows"]:
        if r.get("source") != "ours":
            continue
        row = by_method.setdefault(r["method"], {"label": label, "method": r["method"], "iou": {}})
        row["iou"][f"{r['threshold']}@{r['length']}"] = r["iou"]
    for m in davis:  # a result of whole sequences only (``--clips 0 --davis-measures``) has no IoU rows
        by_method.setdefault(m, {"label": label, "method": m, "iou": {}})
    for m, row in by_method.items():
        row["auc"] = doc.get("auc", {}).get(m)
        if m in davis:
            row["J_mean"], row["F_mean"] = davis[m]["J_mean"], davis[m]["F_mean"]
            row["J_per_sequence"] = {s: v["J"] for s, v in davis[m]["per_sequence"].items()}
    return list(by_method.values())


def parse_claim(text: str) -> tuple[str, str, str]:
    """``"TEXT: A > B"`` (or ``"A > B"``) -> (text, A, B)."""
    head, _, body = text.rpartition(":")
    if ">" not in body:
        head, body = "", text
    better, sep, worse = (x.strip() for x in body.partition(">"))
    if not sep or not better or not worse:
        raise ValueError(f"--claim {text!r}: expected 'TEXT: LABEL_A > LABEL_B'")
    return head.strip() or f"{better} beats {worse}", better, worse


def label_claims(results: dict, claims) -> list[dict]:
    """Each (text, A, B) of ``claims``: does result A beat result B at every common cell of the
    method they share (:func:`pixtrack_tf.experiments.claims.compare` on the results' own rows,
    each method named by its result's label)?"""
    out = []
    for text, a, b in claims:
        missing = [lab for lab in (*a.split("|"), *b.split("|")) if lab not in results]
        if missing:
            raise ValueError(f"--claim {text!r}: no result labelled {missing[0]!r}")
        if "|" in a or "|" in b:
            out += seeded_claim(results, text, a.split("|"), b.split("|"))
            continue
        ours = {lab: [r for r in results[lab]["rows"] if r.get("source") == "ours"] for lab in (a, b)}
        shared = sorted({r["method"] for r in ours[a]} & {r["method"] for r in ours[b]})
        for method in shared:
            cells = [r | {"method": lab} for lab in (a, b) for r in ours[lab] if r["method"] == method]
            c = compare_cells(cells, a, b, text if len(shared) == 1 else f"{text} ({method})")
            if c:
                out.append(c | {"method": method})
        davis = {lab: {r["method"]: r for r in results[lab].get("davis", [])} for lab in (a, b)}
        shared_j = sorted(set(davis[a]) & set(davis[b]))
        for method in shared_j:
            cells = [j_cell(lab, davis[lab][method]["J_mean"]) for lab in (a, b)]
            named = text if len(shared_j) == 1 else f"{text} ({method})"
            out.append(compare_cells(cells, a, b, named + J_SUFFIX) | {"method": method})
    return out


def seeded_claim(results: dict, text: str, better: list, worse: list) -> list[dict]:
    """A claim whose sides are several seeds of one model each (``better``, ``worse``: labels).

    Every pair (one seed of each side) is compared as a single claim is (:func:`label_claims`), on the
    clip cells of each shared method and on DAVIS J. The **seed spread** of a side is the largest
    difference between its seeds on the claim's measure (the mean over the cells, or J mean); the
    claim's spread is the larger of its two sides'. Verdict (results/davis2016/roi224/RULE.md,
    addendum): ``holds`` when every pair holds at every cell and the smallest pair margin exceeds the
    spread; ``does not hold`` when no pair's mean margin is positive; otherwise ``not settled`` by these
    seeds (``holds`` is then None)."""
    pairs = [label_claims(results, [(text, a, b)]) for a in better for b in worse]
    out = []
    for k, first in enumerate(pairs[0]):
        group = [p[k] for p in pairs]
        m = {(c["better"], c["worse"]): c["mean_margin"] for c in group}
        # two seeds' difference on the claim's measure = the difference of their margins to one opponent
        spread = max(
            [max(m[a, b] for a in better) - min(m[a, b] for a in better) for b in worse]
            + [max(m[a, b] for b in worse) - min(m[a, b] for b in worse) for a in better]
        )
        margins = [c["mean_margin"] for c in group]
        if all(c["holds"] for c in group) and min(margins) > spread:
            holds = True
        elif max(margins) <= 0:
            holds = False
        else:
            holds = None
        fails = [f | {"pair": f"{c['better']} > {c['worse']}"} for c in group for f in c["failing"]]
        out.append(
            first
            | {
                "better": "|".join(better),
                "worse": "|".join(worse),
                "holds": holds,
                "mean_margin": float(sum(margins) / len(margins)),
                "pair_margins": {f"{c['better']} > {c['worse']}": c["mean_margin"] for c in group},
                "seed_spread": float(spread),
                "cells": sum(c["cells"] for c in group),
                "cells_failing": len(fails),
                "failing": fails,
            }
        )
    return out


def compare(results: dict, reference: str | None = None, claims=()) -> dict:
    """Rows of every result side by side, differences to ``reference``, and ``claims`` ((text, A, B)
    triples, :func:`parse_claim`) computed."""
    rows = []
    for label, doc in results.items():
        try:
            rows += rows_of(label, doc)
        except KeyError as e:
            raise ValueError(f"{doc['_path']}: not a reproduce result (no {e} field)") from None
    if reference is not None:
        if reference not in results:
            raise ValueError(f"--reference {reference!r} is not one of the labels {list(results)}")
        ref = {r["method"]: r for r in rows if r["label"] == reference}
        for r in rows:
            base = ref.get(r["method"])
            if r["label"] == reference or base is None:
                continue
            r["delta_iou"] = {k: v - base["iou"][k] for k, v in r["iou"].items() if k in base["iou"]}
            if "J_mean" in r and "J_mean" in base:
                r["delta_J_mean"] = r["J_mean"] - base["J_mean"]
                r["delta_F_mean"] = r["F_mean"] - base["F_mean"]
                common = set(r["J_per_sequence"]) & set(base["J_per_sequence"])
                r["max_abs_delta_J_sequence"] = (
                    max(abs(r["J_per_sequence"][s] - base["J_per_sequence"][s]) for s in common) if common else None
                )
    sources = {
        label: {
            "path": doc["_path"],
            "commit": doc["provenance"]["commit"],
            "config": doc["config"]["name"],
            "time_utc": doc["provenance"]["time_utc"],
            "command": doc["provenance"]["command"],
        }
        for label, doc in results.items()
    }
    return {"rows": rows, "reference": reference, "claims": label_claims(results, claims), "sources": sources}


def to_markdown(doc: dict) -> str:
    keys = sorted(
        {k for r in doc["rows"] for k in r["iou"]}, key=lambda k: (float(k.split("@")[0]), int(k.split("@")[1]))
    )
    has_j = any("J_mean" in r for r in doc["rows"])
    head = (
        ["result", "method"]
        + [f"IoU {k.replace('@', ' @ L')}" for k in keys]
        + ["AUC"]
        + (["J mean", "F mean"] if has_j else [])
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    for r in doc["rows"]:
        cells = [r["label"], r["method"]] + [fmt(r["iou"].get(k)) for k in keys] + [fmt(r.get("auc"))]
        if has_j:
            cells += [fmt(r.get("J_mean")), fmt(r.get("F_mean"))]
        lines.append("| " + " | ".join(cells) + " |")
    if doc["reference"]:
        lines += ["", f"Differences to `{doc['reference']}` (same clips and sequences):", ""]
        for r in doc["rows"]:
            if "delta_iou" in r:
                parts = [", ".join(f"IoU {k.replace('@', ' @ L')} {v:+.4f}" for k, v in r["delta_iou"].items())]
                if "delta_J_mean" in r:
                    worst = r["max_abs_delta_J_sequence"]
                    parts.append(
                        f"J mean {r['delta_J_mean']:+.4f} (largest per-sequence |ΔJ| {worst:.4f}), "
                        f"F mean {r['delta_F_mean']:+.4f}"
                    )
                lines.append(f"- {r['label']} / {r['method']}: {'; '.join(p for p in parts if p)}")
    if doc.get("claims"):
        lines += ["", format_claims(doc["claims"], "Do the claims hold?").rstrip()]
    lines += ["", "Sources:", ""]
    for label, s in doc["sources"].items():
        lines.append(
            f"- {label}: `{s['path']}` (config {s['config']}, commit "
            f"{s['commit'][:12]}, {s['time_utc']}): `{s['command']}`"
        )
    return "\n".join(lines) + "\n"
