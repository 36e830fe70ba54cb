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


def plus_bench(run, precision="bfloat16", rounds=4, reps=5, size=(480, 854), overrides=()) -> dict:
    """pixtrack+ (the run folder ``run``, with ``overrides``) at ``size`` (H, W), one object: median ms
    per tracked frame with its output upsampling as the run sets it and with bilinear upsampling only
    (``plus.guided_radius 0``, the same weights), timed in turns in one process so that the guided
    filter's cost does not depend on what else the machine did between two runs."""
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
    return out


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
    return "\n".join(lines)
