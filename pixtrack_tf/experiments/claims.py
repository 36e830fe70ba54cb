"""Whether the paper's claims hold on our numbers: computed from the table's rows, never typed.

The claims are the orderings the paper reads off its tables (Sec. 5.3):

* Table 2: "Even when provided with nearly correct location of the ROI in each new frame, the
  CNN-based segmentation network could not handle appearance shift as well as our 2-stage
  ConvLSTM" -> ConvLSTM > FCN at every length.
* Table 3: "the proposed 2-stage convLSTM architecture is better than a CNN fine tuned on the first
  frame ... our global model performs better than a naive location predictor" -> 2-stage > 1-stage
  and 2-stage > FCN at every length and threshold.

Beside them, a floor the paper does not have: each trained method against the three reference
trackers (first mask copied, optical-flow propagation, feature-affinity propagation over the frozen
VGG16). A claim "holds" only where it holds at every
(threshold, length) cell of the table; otherwise the cells where it fails are listed.
"""

from __future__ import annotations

REFERENCE_NAMES = ("First mask (reference)", "Optical flow (reference)", "Feature affinity (reference)")

CLAIMS = {
    2: [("ConvLSTM", "FCN", "Table 2: the ConvLSTM beats the FCN fine-tuned on the first frame (ROIs near the truth)")],
    3: [
        ("2-stage ConvLSTM", "1-stage ConvLSTM", "Table 3: the global model beats the Eq. 5 ROI predictor"),
        ("2-stage ConvLSTM", "FCN", "Table 3: the 2-stage ConvLSTM beats the FCN fine-tuned on the first frame"),
    ],
}


def _cells(rows, method):
    return {(r["threshold"], r["length"]): r["iou"] for r in rows if r["method"] == method and r["source"] == "ours"}


def compare(rows, better: str, worse: str, text: str) -> dict | None:
    """``better`` > ``worse`` at every common (threshold, length) cell of ``rows``; None when either
    method is missing. Returns the verdict, the mean margin and the cells where the claim fails."""
    a, b = _cells(rows, better), _cells(rows, worse)
    common = sorted(set(a) & set(b))
    if not common:
        return None
    margins = {k: a[k] - b[k] for k in common}
    fails = [{"threshold": k[0], "length": k[1], "margin": margins[k]} for k in common if margins[k] <= 0]
    return {
        "claim": text,
        "better": better,
        "worse": worse,
        "holds": not fails,
        "cells": len(common),
        "cells_failing": len(fails),
        "mean_margin": float(sum(margins.values()) / len(margins)),
        "failing": fails,
    }


def _pairs(table: int, methods) -> list[tuple[str, str, str]]:
    """(better, worse, claim text): the paper's claims for ``table``, then every trained method of
    ``methods`` against each reference tracker."""
    trained = sorted(set(methods) - set(REFERENCE_NAMES))
    return CLAIMS.get(table, []) + [
        (m, ref, f"{m} above the {ref.split(' (')[0].lower()} reference (not a paper claim)")
        for ref in REFERENCE_NAMES
        for m in trained
    ]


def j_cell(method: str, j_mean: float) -> dict:
    """A DAVIS J mean over whole sequences as one cell of :func:`compare` (threshold "J")."""
    return {"method": method, "threshold": "J", "length": "whole", "iou": j_mean, "source": "ours"}


J_SUFFIX = " (DAVIS J mean, whole sequences)"


def evaluate_claims(table: int, rows, davis_rows=None) -> list[dict]:
    """The paper's claims for ``table`` and every trained method against each reference tracker,
    from the IoU rows (and, when given, DAVIS J means: one cell, threshold "J")."""
    ours = {r["method"] for r in rows if r["source"] == "ours"}
    out = [c for b, w, t in _pairs(table, ours) if (c := compare(rows, b, w, t))]
    if davis_rows:
        j_rows = [j_cell(r["method"], r["J_mean"]) for r in davis_rows]
        out += [
            c
            for b, w, t in _pairs(table, (r["method"] for r in davis_rows))
            if (c := compare(j_rows, b, w, t.split(": ", 1)[-1] + J_SUFFIX))
        ]
    return out


def format_claims(claims, title="Does the paper's claim hold here?") -> str:
    """Markdown section: one line per claim, holds / does not hold, with the margin."""
    if not claims:
        return ""
    lines = [
        f"## {title} (computed from the rows above)",
        "",
        "claim | verdict | mean margin (IoU, or J) | cells where it fails",
        "---|---|---|---",
    ]
    for c in claims:
        verdict = {True: "**holds**", False: "**does not hold**", None: "**not settled by these seeds**"}[c["holds"]]
        where = lambda f: f"{f['threshold']}/L={f['length']}" + (f" ({f['pair']})" if "pair" in f else "")  # noqa: E731
        fails = ", ".join(where(f) for f in c["failing"]) or "none"
        n = f"({c['cells_failing']}/{c['cells']})"
        margin = f"{c['mean_margin']:+.4f}"
        if "pair_margins" in c:  # several seeds a side (pixtrack_tf.experiments.compare.seeded_claim)
            pairs = ", ".join(f"{k}: {v:+.4f}" for k, v in c["pair_margins"].items())
            margin += f" ({pairs}; seed spread {c['seed_spread']:.4f})"
        lines.append(f"{c['claim']} | {verdict} | {margin} | {fails} {n}")
    return "\n".join(lines) + "\n"


def verdicts(claims) -> str:
    """One line per paper claim (the reference floors left out): HOLDS / DOES NOT HOLD, the margin."""
    lines = []
    for c in claims:
        if "not a paper claim" not in c["claim"]:
            verdict = "HOLDS" if c["holds"] else "DOES NOT HOLD"
            lines.append(
                f"{c['claim']}: {verdict} here (mean margin {c['mean_margin']:+.3f}, "
                f"failing in {c['cells_failing']} of {c['cells']} cells)"
            )
    return "\n".join(lines)


def side_by_side(rows, table: int, threshold: float = 0.4) -> str:
    """Markdown: for each method of the paper's table, our IoU and the paper's at each length
    (``threshold``), then the reference trackers (ours only). ``rows`` are a table JSON's rows (ours
    and the paper's)."""
    from pixtrack_tf.experiments.paper import rows as paper_rows

    ours = [r for r in rows if r["source"] == "ours" and r["threshold"] == threshold]
    paper = [r for r in paper_rows(table) if r["threshold"] == threshold]
    lengths = sorted({r["length"] for r in ours} | {r["length"] for r in paper})
    cell = {(r["method"], r["length"], r["source"]): r["iou"] for r in ours + paper}
    methods = list(dict.fromkeys([r["method"] for r in paper] + [r["method"] for r in ours]))
    head = " | ".join(f"L = {L}" for L in lengths)
    lines = [f"IoU at threshold {threshold} | {head}", "---|" + "---|" * len(lengths)]
    for m in methods:
        for src, label in (("ours", "ours"), ("paper", "paper, VOT2016")):
            vals = [cell.get((m, L, src)) for L in lengths]
            if any(v is not None for v in vals):
                lines.append(f"{m} ({label}) | " + " | ".join("" if v is None else f"{v:.3f}" for v in vals))
    return "\n".join(lines) + "\n"
