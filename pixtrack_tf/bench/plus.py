"""Speed of pixtrack+ (not the paper; the library part of ``pixtrack bench --plus``): per frame on a
synthetic frame, against its own variants timed in turns in one process (bilinear upsampling only; the
whole frame beside ``plus.roi: mask``'s box), and on real sequences (``--root``)."""

from __future__ import annotations

import numpy as np

from pixtrack_tf.bench.tracking import _in_turns, _synthetic_frame


def _plus_trackers(run, precision, overrides, bilinear: bool):
    """(cfg, {name: tracker}) of the run with ``overrides`` in ``precision``: "plus" as set, and its twins
    timed beside it -- "plus_bilinear" (``bilinear`` and a guided filter set: bilinear upsampling only)
    and "plus_whole_frame" (``plus.roi: mask`` set: the whole frame), each with the same weights."""
    from pixtrack_tf.runs import load_plus
    from pixtrack_tf.tracking.plus import SinglePlusTracker

    fixed = [f"affinity.precision={precision}", f"track.precision={precision}", *overrides]
    cfg, model = load_plus(run, fixed)
    trackers = {"plus": SinglePlusTracker(cfg, model)}
    if bilinear and cfg.plus.guided_radius > 0:
        trackers["plus_bilinear"] = SinglePlusTracker(*load_plus(run, [*fixed, "plus.guided_radius=0"]))
    if cfg.plus.roi != "frame":  # the same tracker computing the whole frame, for the ROI's gain
        trackers["plus_whole_frame"] = SinglePlusTracker(*load_plus(run, [*fixed, "plus.roi=frame"]))
    return cfg, trackers


def plus_bench(run, precision="bfloat16", rounds=4, reps=5, size=(480, 854), overrides=(), stages=True) -> dict:
    """pixtrack+ (the run folder ``run``, with ``overrides``) at ``size`` (H, W), one object: median ms
    per tracked frame with its output upsampling as the run sets it and with bilinear upsampling only
    (``plus.guided_radius 0``, the same weights), timed in turns in one process so that the guided
    filter's cost does not depend on what else the machine did between two runs; with ``plus.roi: mask``
    and ``stages``, where its frame goes (:func:`plus_stages`)."""
    H, W = size
    frame, mask = _synthetic_frame(np.random.default_rng(0), size)
    cfg, trackers = _plus_trackers(run, precision, overrides, bilinear=True)
    for tr in trackers.values():
        tr.init(frame, mask)
        for _ in range(cfg.affinity.memory + 1):  # the ring buffer full, as in a long video
            tr.track(frame)
    ms = _in_turns({k: (lambda tr=tr: tr.track(frame)) for k, tr in trackers.items()}, rounds, reps)
    p = cfg.plus
    out = {
        "plus_run": str(run),
        "plus_frame": [W, H],
        "plus_precision": precision,
        "plus_roi": p.roi,
        "plus_upsampling": {
            "guided_radius": p.guided_radius,
            "guided_eps": p.guided_eps,
            "guide": p.guide,
            "guided_stride": p.guided_stride,
        },
    }
    for k, v in ms.items():
        out[f"{k}_ms"], out[f"{k}_frames_per_s"] = v, 1000 / v
    if "plus_bilinear_ms" in out:
        out["plus_guided_ms"] = out["plus_ms"] - out["plus_bilinear_ms"]
    if p.roi == "mask":  # the share of the frame the box around the synthetic object covered
        out["plus_roi_share"] = float(np.mean(trackers["plus"].roi_shares))
        out["plus_roi_speedup"] = out["plus_whole_frame_ms"] / out["plus_ms"]
        if stages:
            out["plus_stages"] = plus_stages(trackers["plus"], frame, rounds, reps)
    return out


def plus_stages(tracker, frame, rounds=4, reps=5, gemm=None) -> dict:
    """Where a ``plus.roi: mask`` tracker's frame goes (``tracker`` initialised, its ring buffer full):
    median ms of its three graphs called alone on its current box, in turns -- the backbone (resizing,
    the frozen VGG16 to conv4_3 over the box and its context, the memory keys), the memory read, the
    decoder with the output's upsampling -- and of the whole ``track`` from the same box, whose
    remainder is the Python between them (the box, the ring buffer, numpy copies). The backbone's and
    the read's FLOPs (multiply-adds as 2: the convolutions, the similarities; the decoder's are not
    counted) over their times, against this machine's GEMM rate ``gemm`` (GFLOP/s in the tracker's
    precision; measured here when None), say how near the hardware each runs."""
    import tensorflow as tf

    from pixtrack_tf.bench.flops import vgg_flops
    from pixtrack_tf.bench.tracking import gemm_gflops
    from pixtrack_tf.config import AFFINITY_LAYERS

    if tracker.pcfg.roi != "mask":
        raise ValueError("plus_stages times a plus.roi: mask tracker; this one has plus.roi frame")
    frame_t = tf.constant(frame)
    box, size, core, memory = tracker.box, tracker.size, tracker.core, tracker.memory
    b, ctx = tf.constant(box, tf.int32), tf.constant(tracker.roi.context(box), tf.int32)
    taps, q = tracker._roi_features(frame_t, size, b, ctx)
    read, _, _ = core.read(None, memory, feats=q, region=box)
    stages = {
        "backbone": lambda: tracker._roi_features(frame_t, size, b, ctx)[1].numpy(),
        "read": lambda: core.read(None, memory, feats=q, region=box)[0].numpy(),
        "decoder": lambda: tracker._roi_refine(taps, read, size, frame_t, b).numpy(),
    }
    slot = memory["next"]

    def step():  # the whole track step, from the same box and ring-buffer slot each time
        tracker.box, memory["next"] = box, slot
        tracker.track(frame)

    ms = _in_turns({**stages, "track": step}, rounds, reps)
    tracker.box = box
    s, c = AFFINITY_LAYERS["block4_conv3"], tracker.roi.context(box)
    lay = core.layout(memory["grid"])
    ty0, ty1, tx0, tx1, _ = lay.tile_span(box)  # the tiles the read's queries come in (the box's, whole)
    tiles = (ty1 - ty0) * (tx1 - tx0)
    keys = memory["first_feats"].shape[0] + sum(memory["valid"]) * lay.window_idx.shape[1]
    flops = {
        "backbone": vgg_flops((c[1] - c[0]) * s, (c[3] - c[2]) * s, "block4_conv3"),
        "read": 2 * tiles * lay.tile_size * keys * int(q.shape[-1]),
    }
    gemm = gemm_gflops(tracker.acfg.precision) if gemm is None else gemm
    out = {"box_cells": [int(v) for v in box], "box_share": tracker.roi.share(box), "gemm_gflops": gemm}
    out.update({f"{k}_ms": v for k, v in ms.items()})
    out["python_ms"] = ms["track"] - sum(ms[k] for k in stages)
    for k, f in flops.items():
        out[f"{k}_gflop"] = f / 1e9
        out[f"{k}_of_gemm"] = f / 1e9 / (ms[k] / 1000) / gemm
    return out


def format_stages(st: dict) -> str:
    t = st["track_ms"]
    lines = [
        f"where a frame goes (the box {st['box_share']:.0%} of the frame; each graph alone, in turns; this "
        f"machine's GEMM rate {st['gemm_gflops']:.0f} GFLOP/s):",
        "| stage | ms | share | GFLOP | GFLOP/s as a share of the GEMM rate |",
        "| --- | --- | --- | --- | --- |",
    ]
    for k, what in (
        ("backbone", "backbone (VGG16 to conv4_3 on the box and its context)"),
        ("read", "memory read"),
        ("decoder", "decoder and output upsampling"),
        ("python", "the rest (Python, copies)"),
    ):
        g = f"{st[k + '_gflop']:.1f} | {st[k + '_of_gemm']:.0%}" if f"{k}_gflop" in st else "- | -"
        lines.append(f"| {what} | {st[k + '_ms']:.1f} | {st[k + '_ms'] / t:.0%} | {g} |")
    lines.append(f"| whole `track` | {t:.1f} | 100% | | |")
    return "\n".join(lines)


def plus_sequence_bench(run, seqs, precision="bfloat16", overrides=(), max_frames=None) -> dict:
    """pixtrack+ on real sequences: per sequence, the mean ms per tracked frame of the run as set (with
    ``overrides``) and, with ``plus.roi: mask``, of the same tracker computing the whole frame, frame by
    frame in turns in this process (the first tracked frame of each sequence, which builds the graphs,
    not counted); with the box, the mean share of the frame it covered."""
    import time

    cfg, trackers = _plus_trackers(run, precision, overrides, bilinear=False)
    rows = []
    for seq in seqs:
        n = len(seq) if max_frames is None else min(len(seq), max_frames)
        times = {k: [] for k in trackers}
        for tr in trackers.values():
            tr.init(seq.frame(0), seq.mask(0))
        for t in range(1, n):
            frame = seq.frame(t)
            for k, tr in trackers.items():
                start = time.perf_counter()
                tr.track(frame)
                times[k].append(time.perf_counter() - start)
        row = {"sequence": seq.name, "frames": n - 2}
        for k, v in times.items():
            row[f"{k}_ms"] = 1000 * float(np.mean(v[1:]))
        if "plus_whole_frame" in trackers:
            row["roi_share"] = float(np.mean(trackers["plus"].roi_shares[1:]))
        rows.append(row)
    out = {"plus_run": str(run), "plus_precision": precision, "plus_roi": cfg.plus.roi, "sequences": rows}
    w = np.array([r["frames"] for r in rows], float)
    for k in trackers:
        ms = float(np.average([r[f"{k}_ms"] for r in rows], weights=w))
        out[f"{k}_ms"], out[f"{k}_frames_per_s"] = ms, 1000 / ms
    if "plus_whole_frame" in trackers:
        out["roi_share"] = float(np.average([r["roi_share"] for r in rows], weights=w))
        out["plus_roi_speedup"] = out["plus_whole_frame_ms"] / out["plus_ms"]
    return out


def format_plus_sequences(r: dict) -> str:
    whole = "plus_whole_frame_ms" in r
    lines = [
        f"pixtrack+ ({r['plus_run']}) on {len(r['sequences'])} real sequences, one object, {r['plus_precision']}, "
        f"plus.roi {r['plus_roi']}: {r['plus_ms']:.1f} ms = {r['plus_frames_per_s']:.2f} frames/s (mean over frames)"
    ]
    if whole:
        lines.append(
            f"the whole frame (plus.roi frame), in turns: {r['plus_whole_frame_ms']:.1f} ms = "
            f"{r['plus_whole_frame_frames_per_s']:.2f} frames/s; the box is {r['plus_roi_speedup']:.2f}x faster, "
            f"covering {r['roi_share']:.0%} of the frame on average"
        )
    lines.append("| sequence | frames | ms a frame" + (" | whole frame ms | box share |" if whole else " |"))
    lines.append("| --- | --- | ---" + (" | --- | --- |" if whole else " |"))
    for row in r["sequences"]:
        extra = f" | {row['plus_whole_frame_ms']:.1f} | {row['roi_share']:.0%} |" if whole else " |"
        lines.append(f"| {row['sequence']} | {row['frames']} | {row['plus_ms']:.1f}" + extra)
    return "\n".join(lines)


def format_plus(r: dict) -> str:
    lines = [
        f"pixtrack+ ({r['plus_run']}), frame {r['plus_frame'][0]}x{r['plus_frame'][1]}, one object, "
        f"{r['plus_precision']}; output upsampling {r['plus_upsampling']}; plus.roi {r.get('plus_roi', 'frame')}"
        + (
            f" (the box covered {r['plus_roi_share']:.0%} of the frame around the synthetic object)"
            if "plus_roi_share" in r
            else ""
        ),
        f"as set: {r['plus_ms']:.1f} ms = {r['plus_frames_per_s']:.2f} frames/s (the network step, no decoding "
        "or writing: --command times those)",
    ]
    if "plus_whole_frame_ms" in r:
        lines.append(
            f"the whole frame (plus.roi frame, same weights and upsampling): {r['plus_whole_frame_ms']:.1f} ms = "
            f"{r['plus_whole_frame_frames_per_s']:.2f} frames/s; the box is {r['plus_roi_speedup']:.2f}x faster "
            "(timed in turns in this process)"
        )
    if "plus_bilinear_ms" in r:
        lines.append(
            f"bilinear upsampling only (plus.guided_radius 0, same weights): {r['plus_bilinear_ms']:.1f} ms = "
            f"{r['plus_bilinear_frames_per_s']:.2f} frames/s; the guided filter costs {r['plus_guided_ms']:.1f} ms "
            "a frame (timed in turns in this process)"
        )
    if "plus_stages" in r:
        lines.append(format_stages(r["plus_stages"]))
    return "\n".join(lines)
