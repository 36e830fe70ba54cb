"""Speed of the tracker against this machine's limit (the library part of ``pixtrack bench``).

In one process: this machine's GEMM rate; median milliseconds per tracked frame after warm-up for the
global model, the local model, crop/paste and the whole two-stage step (Algorithm 1); frames/s; the
ratio of the whole step's speed to its limit (its FLOPs, :mod:`pixtrack_tf.bench.flops`, over the
GEMM rate); one local-model training step against its limit; the tf.data pipelines against what
training consumes.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from pixtrack_tf.bench.flops import affinity_step_flops, global_step_flops, local_step_flops, train_step_flops
from pixtrack_tf.config import DTYPE_POLICIES


def _times_ms(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return 1000 * np.asarray(ts)


def _median_ms(fn, warmup=3, reps=15):
    return float(np.median(_times_ms(fn, warmup, reps)))


def _synthetic_frame(rng, size=(480, 854)):
    """A random frame (H, W, 3) uint8 of ``size`` and a box mask on it (rows 180-300, columns 350-500 at
    480 x 854, the same share of a frame of another size): what the tracking benches track."""
    H, W = size
    frame = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    mask = np.zeros((H, W), bool)
    mask[H * 3 // 8 : H * 5 // 8, W * 350 // 854 : W * 500 // 854] = True
    return frame, mask


def _in_turns(fns: dict, rounds: int, reps: int) -> dict:
    """Median ms of each callable in ``fns``, timed in turns (one median of ``reps`` calls per callable
    and round, then the median over ``rounds``), so that a ratio between them does not depend on what
    else the machine did between two runs."""
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            times[k].append(_median_ms(fn, warmup=1, reps=reps))
    return {k: float(np.median(ts)) for k, ts in times.items()}


def gemm_gflops(dtype="float32", n=2048, reps=10) -> float:
    """This machine's GEMM rate in ``dtype``: the fastest of ``reps`` timed 2048^3 products, since a
    limit is what the hardware reaches at best (a median let a moment of contention from another
    process lower the limit, so that a step measured later seemed faster than it)."""
    import tensorflow as tf

    a = tf.random.stateless_normal((n, n), (1, 2), dtype=tf.float32)
    a = tf.cast(a, dtype)
    f = tf.function(lambda x: tf.matmul(x, x))
    ms = float(np.min(_times_ms(lambda: f(a).numpy(), warmup=2, reps=reps)))
    return 2 * n**3 / (ms / 1000) / 1e9


def run_bench(cfg, dtype="float32", seq=None, pipelines=True, train=True, objects=4) -> dict:
    """Tracking (and training) speed with the models computing in ``dtype`` (float32 or bfloat16)."""
    import tensorflow as tf

    from pixtrack_tf.models import GlobalModel, LocalModel
    from pixtrack_tf.ops.roi import crop_roi, paste_roi
    from pixtrack_tf.tracking import MultiObjectTracker, TwoStageTracker

    gemm32 = gemm_gflops("float32")
    gemm = gemm_gflops("bfloat16") if dtype == "bfloat16" else gemm32
    policy = DTYPE_POLICIES[dtype]
    lm, gm = LocalModel.from_cfg(cfg, dtype=policy), GlobalModel.from_cfg(cfg, dtype=policy)
    S, M = cfg.local.roi_size, cfg.global_.map_size
    H, W = (480, 854)
    rng = np.random.default_rng(0)
    frame, mask = _synthetic_frame(rng, (H, W))
    tr = TwoStageTracker(lm, gm, cfg)
    tr.init(frame, mask)
    whole_ms = _median_ms(lambda: tr.track(frame))
    # the batched step (it cannot fine-tune per object; per-frame cost is the same either way)
    multi = MultiObjectTracker(lm, gm, replace(cfg, track=replace(cfg.track, local_finetune_steps=0)))
    multi.init(frame, [np.roll(mask, 60 * k, axis=1) for k in range(objects)])
    multi_ms = _median_ms(lambda: multi.track(frame))
    states = tr.segmenter.states
    x = tf.constant(rng.uniform(0, 255, (1, S, S, 3)).astype(np.float32))
    local_fn = tf.function(lambda x, s: lm.step(x, s))
    local_ms = _median_ms(lambda: tf.nest.map_structure(lambda t: t.numpy(), local_fn(x, states)))
    zmap = tf.zeros((1, M, M, 1))
    asp = tf.constant([[W / H]])
    gst = gm.initial_states(1)
    global_fn = tf.function(lambda z, a, s: gm.step(z, a, s))
    global_ms = _median_ms(lambda: tf.nest.map_structure(lambda t: t.numpy(), global_fn(zmap, asp, gst)))
    box = tf.constant([[300.0, 140.0, 540.0, 380.0]])
    f_t = tf.constant(frame)
    cp = tf.function(lambda f, b, p: (crop_roi(f[None], b, S), paste_roi(p, b, tf.shape(f)[:2])))
    prob = tf.zeros((1, S, S, 1))
    crop_ms = _median_ms(lambda: [t.numpy() for t in cp(f_t, box, prob)])
    lf, gf = local_step_flops(cfg), global_step_flops(cfg)
    step_flop = sum(lf.values()) + sum(gf.values())
    limit_ms = step_flop / (gemm * 1e9) * 1000
    paired = paired_speedup(cfg, tr, frame, mask) if dtype == "bfloat16" else {}
    out = {
        "config": cfg.name,
        "dtype": dtype,
        "frame": [H, W],
        "gemm_gflops": gemm,
        "gemm_gflops_float32": gemm32,
        "flops_local": lf,
        "flops_global": gf,
        "step_gflop": step_flop / 1e9,
        "global_ms": global_ms,
        "local_ms": local_ms,
        "crop_paste_ms": crop_ms,
        "step_ms": whole_ms,
        "frames_per_s": 1000 / whole_ms,
        "limit_ms": limit_ms,
        "limit_ratio": limit_ms / whole_ms,
        "local_limit_ratio": (sum(lf.values()) / (gemm * 1e9) * 1000) / local_ms,
        "retraces_after_first_frame": int(tr._step_fn.experimental_get_tracing_count()) - 1,
        "objects": objects,
        "objects_step_ms": multi_ms,
        "objects_frames_per_s": 1000 * objects / multi_ms,
        "objects_speedup": objects * whole_ms / multi_ms,
        **paired,
    }
    if train:
        out.update(train_bench(cfg, gemm, policy))
    if pipelines and seq is not None and train:
        out.update(pipeline_bench(cfg, seq, out["train_step_ms"]))
    return out


def affinity_bench(cfg, objects=4) -> dict:
    """The feature-affinity reference (``cfg.affinity``) at 854x480: median ms per tracked frame for one
    object and for ``objects`` in one pass, its FLOPs, and the ratio of its speed to its limit (FLOPs
    over this machine's GEMM rate in the tracker's precision, measured in this run)."""
    from pixtrack_tf.tracking.affinity import AffinityCore, MultiAffinityTracker

    a = cfg.affinity
    gemm = gemm_gflops(a.precision)
    H, W = 480, 854
    frame, mask = _synthetic_frame(np.random.default_rng(0), (H, W))
    core = AffinityCore(a, cfg.backbone.weights)
    out = {"affinity": {k: getattr(a, k) for k in ("layer", "scale", "memory", "topk", "radius", "precision")}}
    out["affinity_gemm_gflops"] = gemm
    for n in (1, objects):
        tr = MultiAffinityTracker(cfg, core=core)
        tr.init(frame, [np.roll(mask, 120 * k, axis=1) for k in range(n)])
        for _ in range(a.memory + 1):  # the ring buffer full, as in a long video
            tr.track(frame)
        ms = _median_ms(lambda: tr.track(frame), warmup=1, reps=7)
        flop = sum(affinity_step_flops(a, (H, W), n).values())
        key = "affinity" if n == 1 else f"affinity_{n}_objects"
        out.update({f"{key}_ms": ms, f"{key}_frames_per_s": 1000 / ms, f"{key}_gflop": flop / 1e9})
        out[f"{key}_limit_ratio"] = (flop / (gemm * 1e9) * 1000) / ms
    out["affinity_flops"] = affinity_step_flops(a, (H, W))
    out["affinity_objects"] = objects
    return out


def format_affinity(r: dict) -> str:
    n = r["affinity_objects"]
    f = ", ".join(f"{k} {v / 1e9:.2f} G" for k, v in r["affinity_flops"].items())
    return "\n".join(
        [
            f"feature affinity {r['affinity']}, frame 854x480; GEMM rate {r['affinity_gemm_gflops']:.1f} GFLOP/s",
            f"FLOPs per frame: {f}",
            f"one object: {r['affinity_ms']:.1f} ms = {r['affinity_frames_per_s']:.2f} frames/s, "
            f"{r['affinity_gflop']:.1f} GFLOP -> {r['affinity_limit_ratio']:.2f} of the limit",
            f"{n} objects in one pass: {r[f'affinity_{n}_objects_ms']:.1f} ms = "
            f"{r[f'affinity_{n}_objects_frames_per_s']:.2f} frames/s -> "
            f"{r[f'affinity_{n}_objects_limit_ratio']:.2f} of the limit",
        ]
    )


def paired_speedup(cfg, tracker, frame, mask, rounds=5, reps=5) -> dict:
    """bfloat16 against float32 timed in turns in one process (a float32 twin of ``tracker``, same
    weights), so that the ratio does not depend on what else the machine did between two runs."""
    from pixtrack_tf.models import GlobalModel, LocalModel
    from pixtrack_tf.tracking import TwoStageTracker

    lm, gm = LocalModel.from_cfg(cfg), GlobalModel.from_cfg(cfg)
    lm.set_weights(tracker.lm.get_weights())
    gm.set_weights(tracker.gm.get_weights())
    ref = TwoStageTracker(lm, gm, cfg)
    ref.init(frame, mask)
    ms = _in_turns({"float32": lambda: ref.track(frame), "bfloat16": lambda: tracker.track(frame)}, rounds, reps)
    return {
        "paired_float32_step_ms": ms["float32"],
        "paired_bfloat16_step_ms": ms["bfloat16"],
        "bfloat16_speedup": ms["float32"] / ms["bfloat16"],
    }


def train_bench(cfg, gemm, policy="float32") -> dict:
    """One local-model training step (Eq. 2, Adam update) on random ROIs, against its limit."""
    import keras
    import tensorflow as tf

    from pixtrack_tf.training.tasks import LocalTask

    task = LocalTask(cfg, sequences=None)
    model = task.build_model(dtype=policy)

    opt = keras.optimizers.Adam(1e-4)
    opt.build(model.trainable_variables)
    B, T, S = cfg.data.batch_size, cfg.data.seq_len, cfg.local.roi_size
    rng = np.random.default_rng(1)
    batch = {
        "first_image": tf.constant(rng.uniform(0, 255, (B, S, S, 3)).astype(np.float32)),
        "first_mask": tf.ones((B, S, S, 1)),
        "images": tf.constant(rng.uniform(0, 255, (B, T, S, S, 3)).astype(np.float32)),
        "masks": tf.zeros((B, T, S, S, 1)),
    }

    @tf.function
    def step(b):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(task.per_example_loss(model, b)[0])
        g = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(g, model.trainable_variables))
        return loss

    ms = _median_ms(lambda: step(batch).numpy(), warmup=2, reps=5)
    flop = train_step_flops(cfg)
    return {"train_step_ms": ms, "train_step_gflop": flop / 1e9, "train_limit_ratio": (flop / (gemm * 1e9) * 1000) / ms}


def pipeline_bench(cfg, sequences, train_step_ms) -> dict:
    from pixtrack_tf.bench.data import bench_pipeline
    from pixtrack_tf.data.pipelines import local_dataset

    r = bench_pipeline(local_dataset(sequences, cfg), 10, cfg.data.seq_len + 1)
    consumed = cfg.data.batch_size / (train_step_ms / 1000)  # sequences per second that training eats
    return {
        "pipeline_sequences_per_s": r["sequences_per_s"],
        "training_sequences_per_s": consumed,
        "pipeline_over_training": r["sequences_per_s"] / consumed,
    }


def format_report(r: dict) -> str:
    lines = [
        f"config {r['config']}, {r['dtype']}, frame {r['frame'][1]}x{r['frame'][0]}",
        f"GEMM rate: {r['gemm_gflops']:.1f} GFLOP/s ({r['dtype']}); float32 {r['gemm_gflops_float32']:.1f}",
        "FLOPs per frame: "
        + ", ".join(f"local.{k} {v / 1e9:.3f} G" for k, v in r["flops_local"].items())
        + ", "
        + ", ".join(f"global.{k} {v / 1e9:.4f} G" for k, v in r["flops_global"].items()),
        f"median per tracked frame: global {r['global_ms']:.1f} ms, local "
        f"{r['local_ms']:.1f} ms, crop+paste {r['crop_paste_ms']:.1f} ms, "
        f"whole step {r['step_ms']:.1f} ms = {r['frames_per_s']:.2f} frames/s",
        f"whole step: {r['step_gflop']:.2f} GFLOP, limit {r['limit_ms']:.1f} ms -> {r['limit_ratio']:.2f} of the limit "
        f"(local model alone {r['local_limit_ratio']:.2f}); retraces "
        f"after the first frame: {r['retraces_after_first_frame']}",
        f"{r['objects']} objects in one batched step: {r['objects_step_ms']:.1f} "
        f"ms = {r['objects_frames_per_s']:.2f} object-frames/s, "
        f"{r['objects_speedup']:.2f}x {r['objects']} single-object steps",
    ]
    if "bfloat16_speedup" in r:
        lines.append(
            f"bfloat16 vs float32, timed in turns in this process: {r['paired_bfloat16_step_ms']:.1f} vs "
            f"{r['paired_float32_step_ms']:.1f} ms per step -> {r['bfloat16_speedup']:.2f}x"
        )
    if "train_step_ms" in r:
        lines.append(
            f"local training step (batch {'{'}B{'}'}): {r['train_step_ms']:.0f} ms, "
            f"{r['train_step_gflop']:.1f} GFLOP -> {r['train_limit_ratio']:.2f} of the limit"
        )
    if "pipeline_sequences_per_s" in r:
        lines.append(
            f"tf.data local pipeline: {r['pipeline_sequences_per_s']:.2f} "
            f"sequences/s vs training {r['training_sequences_per_s']:.2f} "
            f"-> {r['pipeline_over_training']:.1f}x"
        )
    return "\n".join(lines)
