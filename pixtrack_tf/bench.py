"""Speed of the tracker against this machine's limit.

    python -m pixtrack_tf.bench [--config paper|cpu] [--dtype float32|bfloat16] [--json] [--record FILE]

In one process: FLOPs per frame of each module, counted from layer shapes; this machine's GEMM rate
measured in the same run; median milliseconds per tracked frame after warm-up for the global model,
the local model, crop/paste and the whole two-stage step (Algorithm 1); frames/s; the ratio of the
whole step's speed to its limit (its FLOPs / the GEMM rate); one local-model training step against
its limit; and the tf.data pipelines against what training consumes. ``--record`` appends the
figures, the machine and the command to a Markdown file (``results/benchmarks.md``).

FLOPs count multiply-adds as 2; convolutions 2 k^2 C_in C_out H_out W_out, transposed convolutions
2 k^2 C_in C_out H_in W_in, a ConvLSTM step its input and recurrent convolutions, dense layers
2 n_in n_out. Element-wise work, pooling and resizing are not counted (they are not GEMM-bound).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


# -- FLOP counting ---------------------------------------------------------------------------------
def conv_flops(k, c_in, c_out, h_out, w_out) -> int:
    return 2 * k * k * c_in * c_out * h_out * w_out


def deconv_flops(k, c_in, c_out, h_in, w_in) -> int:
    return 2 * k * k * c_in * c_out * h_in * w_in


def convlstm_flops(k, c_in, f, h, w) -> int:
    return conv_flops(k, c_in, 4 * f, h, w) + conv_flops(k, f, 4 * f, h, w)


def vgg_pool4_flops(s: int) -> int:
    from pixtrack_tf.models.backbone import VGG_POOL4_LAYERS

    total, size, c = 0, s, 3
    for spec in VGG_POOL4_LAYERS:
        if spec == "pool":
            size = (size + 1) // 2
            continue
        total += conv_flops(3, c, spec[1], size, size)
        c = spec[1]
    return total


def local_step_flops(cfg) -> dict:
    """FLOPs of one local-model tracking step (Fig. 2) by module."""
    lc = cfg.local
    f, k = lc.roi_size // 16, lc.kernel_size
    dec, c, hw = 0, lc.lstm_filters, f
    for out in list(lc.deconv_filters) + [1]:
        dec += deconv_flops(lc.deconv_kernel, c, out, hw, hw)
        c, hw = out, hw * 2
    return {
        "backbone": vgg_pool4_flops(lc.roi_size),
        "fcnn": conv_flops(k, 512, lc.fcnn_filters, f, f) + conv_flops(k, lc.fcnn_filters, lc.fcnn_filters, f, f),
        "convlstm": convlstm_flops(k, lc.fcnn_filters, lc.lstm_filters, f, f) + convlstm_flops(k, lc.lstm_filters, lc.lstm_filters, f, f),
        "decoder": dec,
    }


def mcnn_flops(cfg) -> int:
    lc = cfg.local
    f, k = lc.roi_size // 16, lc.kernel_size
    return conv_flops(k, 1024, lc.mcnn_filters, f, f) + conv_flops(k, lc.mcnn_filters, lc.mcnn_filters, f, f)


def global_step_flops(cfg) -> dict:
    gc = cfg.global_
    k, s, c, convs = gc.kernel_size, gc.map_size, 1, 0
    for f in gc.conv_filters:
        convs += conv_flops(k, c, f, s, s) + conv_flops(k, f, f, s, s)
        c, s = f, s // 2
    return {
        "convs": convs,
        "convlstm": convlstm_flops(k, c, gc.lstm_filters, s, s) + convlstm_flops(k, gc.lstm_filters, gc.lstm_filters, s, s),
        "fc": 2 * s * s * gc.lstm_filters * gc.fc_units + 2 * (gc.fc_units + 1) * 3,
    }


def train_step_flops(cfg) -> int:
    """One local training step: the frozen backbone forward only (T frames + the first frame twice),
    the trainable layers forward + backward (~3x forward)."""
    T, B = cfg.data.seq_len, cfg.data.batch_size
    per = local_step_flops(cfg)
    trainable = per["fcnn"] + per["convlstm"] + per["decoder"]
    return B * ((T + 2) * per["backbone"] + 3 * T * trainable + 3 * mcnn_flops(cfg))


# -- timing -----------------------------------------------------------------------------------------
def _median_ms(fn, warmup=3, reps=15):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return 1000 * float(np.median(ts))


def gemm_gflops(dtype="float32", n=2048, reps=10) -> float:
    import tensorflow as tf

    a = tf.random.stateless_normal((n, n), (1, 2), dtype=tf.float32)
    a = tf.cast(a, dtype)
    f = tf.function(lambda x: tf.matmul(x, x))
    ms = _median_ms(lambda: f(a).numpy(), warmup=2, reps=reps)
    return 2 * n**3 / (ms / 1000) / 1e9


def run_bench(cfg, dtype="float32", seq=None, pipelines=True, train=True, objects=4) -> dict:
    from pixtrack_tf.models.precision import precision

    with precision(dtype):
        return _run_bench(cfg, dtype, seq, pipelines, train, objects)


def _run_bench(cfg, dtype, seq, pipelines, train, objects) -> dict:
    import tensorflow as tf

    from pixtrack_tf.layers.roi import crop_roi, paste_roi
    from pixtrack_tf.models import GlobalModel, LocalModel
    from pixtrack_tf.tracking import MultiObjectTracker, TwoStageTracker

    gemm32 = gemm_gflops("float32")
    gemm = gemm_gflops("bfloat16") if dtype == "bfloat16" else gemm32
    lm, gm = LocalModel.from_cfg(cfg), GlobalModel.from_cfg(cfg)
    S, M = cfg.local.roi_size, cfg.global_.map_size
    H, W = (480, 854)
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    mask = np.zeros((H, W), bool)
    mask[180:300, 350:500] = True
    tr = TwoStageTracker(lm, gm, cfg)
    tr.init(frame, mask)
    whole_ms = _median_ms(lambda: tr.track(frame))
    multi = MultiObjectTracker(lm, gm, cfg)
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
        out.update(train_bench(cfg, gemm))
    if pipelines and seq is not None and train:
        out.update(pipeline_bench(cfg, seq, out["train_step_ms"]))
    return out


# -- backend-neutral timing (KERAS_BACKEND=jax on a GPU machine without TensorFlow) -------------------
def _compile(fn):
    """jax.jit under JAX, tf.function under TensorFlow, eager otherwise."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(fn)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(fn)
    return fn


def _sync(x):
    """Wait for the device: the computation behind ``x`` has finished when this returns."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return jax.block_until_ready(x)
    return keras.tree.map_structure(keras.ops.convert_to_numpy, x)


def _stateless(variables, body):
    """``body`` as a pure function of the variables' values (so jax.jit takes them as arguments)."""
    import keras

    def fn(values, *args):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return body(*args)

    return fn


def device_name() -> str:
    import keras

    if keras.backend.backend() == "jax":
        import jax

        d = jax.devices()[0]
        return f"{d.platform}: {getattr(d, 'device_kind', d)}"
    return "cpu"


def keras_gemm_gflops(dtype="float32", n=2048, reps=10) -> float:
    import keras
    from keras import ops

    a = ops.cast(keras.random.normal((n, n), seed=1), dtype)
    f = _compile(lambda x: ops.matmul(x, x))
    ms = _median_ms(lambda: _sync(f(a)), warmup=2, reps=reps)
    return 2 * n**3 / (ms / 1000) / 1e9


def models_bench(cfg, dtype="float32", batches=(1, 8), gemm_n=2048) -> dict:
    """The global and local models of one tracking step (Algorithm 1 lines 4 and 7) and one local
    training step (forward + backward of the cross-entropy of Eq. 2), in keras.ops only, on whatever
    Keras backend and device is active. Crop and paste-back (TensorFlow ops) are not included.
    ``batches``: objects tracked together in one batched step (their frames/s are objects x frames)."""
    import dataclasses

    import keras
    from keras import ops

    from pixtrack_tf.models import GlobalModel, LocalModel
    from pixtrack_tf.models.precision import precision

    light = dataclasses.replace(cfg, backbone=dataclasses.replace(cfg.backbone, weights="none"))
    with precision(dtype):
        lm, gm = LocalModel.from_cfg(light), GlobalModel.from_cfg(light)
    gemm32 = keras_gemm_gflops("float32", gemm_n)
    gemm = keras_gemm_gflops("bfloat16", gemm_n) if dtype == "bfloat16" else gemm32
    S, M = cfg.local.roi_size, cfg.global_.map_size
    f, F = S // 16, cfg.local.lstm_filters
    lvars, gvars = list(lm.variables), list(gm.variables)
    lvals, gvals = [v.value for v in lvars], [v.value for v in gvars]

    def both(rois, zmap, aspect, gst, lst):
        theta, gst = gm.step(zmap, aspect, gst)
        prob, lst = lm.step(rois, lst)
        return theta, prob, gst, lst

    local_fn = _compile(_stateless(lvars, lm.step))
    global_fn = _compile(_stateless(gvars, gm.step))
    both_fn = _compile(_stateless(lvars + gvars, both))
    lf, gf = local_step_flops(cfg), global_step_flops(cfg)
    step_flop = sum(lf.values()) + sum(gf.values())
    out = {"backend": keras.backend.backend(), "device": device_name(), "config": cfg.name, "dtype": dtype,
           "jax_default_matmul_precision": os.environ.get("JAX_DEFAULT_MATMUL_PRECISION", "default"),
           "gemm_gflops": gemm, "gemm_gflops_float32": gemm32, "step_gflop": step_flop / 1e9, "batches": {}}
    for b in batches:
        rois = keras.random.uniform((b, S, S, 3), 0, 255, seed=2)
        zmap = keras.random.uniform((b, M, M, 1), seed=3)
        aspect = ops.full((b, 1), 16 / 9)
        lst = [ops.zeros((b, f, f, F))] * 4
        gst = gm.initial_states(b)
        local_ms = _median_ms(lambda: _sync(local_fn(lvals, rois, lst)))
        global_ms = _median_ms(lambda: _sync(global_fn(gvals, zmap, aspect, gst)))
        step_ms = _median_ms(lambda: _sync(both_fn(lvals + gvals, rois, zmap, aspect, gst, lst)))
        limit_ms = b * step_flop / (gemm * 1e9) * 1000
        out["batches"][str(b)] = {"local_ms": local_ms, "global_ms": global_ms, "step_ms": step_ms,
                                  "object_frames_per_s": 1000 * b / step_ms, "limit_ratio": limit_ms / step_ms}
    out.update(keras_train_bench(cfg, lm, gemm))
    return out


def keras_train_bench(cfg, lm, gemm) -> dict:
    """Forward + backward of one local-model training batch (the cross-entropy term of Eq. 2; no
    optimizer update), in keras.ops on the active backend."""
    import keras
    from keras import ops

    B, T, S = cfg.data.batch_size, cfg.data.seq_len, cfg.local.roi_size
    inputs = {
        "first_image": keras.random.uniform((B, S, S, 3), 0, 255, seed=4),
        "first_mask": ops.ones((B, S, S, 1)),
        "images": keras.random.uniform((B, T, S, S, 3), 0, 255, seed=5),
    }
    target = ops.zeros((B, T, S, S, 1))
    tv, ntv = lm.trainable_variables, lm.non_trainable_variables

    def loss_fn(tvals, ntvals):
        probs, _ = lm.stateless_call(tvals, ntvals, inputs, training=True)
        return ops.sum(keras.losses.binary_crossentropy(target, probs)) / B

    if keras.backend.backend() == "jax":
        import jax

        grad_fn = jax.jit(jax.value_and_grad(loss_fn))
        args = ([v.value for v in tv], [v.value for v in ntv])
        ms = _median_ms(lambda: _sync(grad_fn(*args)), warmup=2, reps=5)
    else:
        import tensorflow as tf

        @tf.function
        def grad_fn():
            with tf.GradientTape() as tape:
                loss = loss_fn(tv, ntv)
            return loss, tape.gradient(loss, tv)

        ms = _median_ms(lambda: _sync(grad_fn()), warmup=2, reps=5)
    flop = train_step_flops(cfg)
    return {"train_step_ms": ms, "train_step_gflop": flop / 1e9, "train_limit_ratio": (flop / (gemm * 1e9) * 1000) / ms}


def format_models_report(r: dict) -> str:
    lines = [f"config {r['config']}, {r['dtype']}, Keras backend {r['backend']} on {r['device']} (models only; crop/paste not included)"
             + (f"; JAX_DEFAULT_MATMUL_PRECISION={r['jax_default_matmul_precision']}" if r["backend"] == "jax" else ""),
             f"GEMM rate: {r['gemm_gflops']:.1f} GFLOP/s ({r['dtype']}); float32 {r['gemm_gflops_float32']:.1f}; step {r['step_gflop']:.2f} GFLOP per object"]
    for b, x in r["batches"].items():
        lines.append(f"batch {b}: global {x['global_ms']:.2f} ms, local {x['local_ms']:.2f} ms, both {x['step_ms']:.2f} ms = "
                     f"{x['object_frames_per_s']:.1f} object-frames/s, {x['limit_ratio']:.2f} of the limit")
    lines.append(f"local training step forward+backward: {r['train_step_ms']:.1f} ms, {r['train_step_gflop']:.1f} GFLOP -> {r['train_limit_ratio']:.2f} of the limit")
    return "\n".join(lines)


def paired_speedup(cfg, tracker, frame, mask, rounds=5, reps=5) -> dict:
    """bfloat16 against float32 timed in turns in one process (a float32 twin of ``tracker``, same
    weights), so that the ratio does not depend on what else the machine did between two runs."""
    from pixtrack_tf.models import GlobalModel, LocalModel
    from pixtrack_tf.models.precision import precision
    from pixtrack_tf.tracking import TwoStageTracker

    with precision("float32"):
        lm, gm = LocalModel.from_cfg(cfg), GlobalModel.from_cfg(cfg)
    lm.set_weights(tracker.lm.get_weights())
    gm.set_weights(tracker.gm.get_weights())
    ref = TwoStageTracker(lm, gm, cfg)
    ref.init(frame, mask)
    t32, t16 = [], []
    for _ in range(rounds):
        t32.append(_median_ms(lambda: ref.track(frame), warmup=1, reps=reps))
        t16.append(_median_ms(lambda: tracker.track(frame), warmup=1, reps=reps))
    return {"paired_float32_step_ms": float(np.median(t32)), "paired_bfloat16_step_ms": float(np.median(t16)),
            "bfloat16_speedup": float(np.median(t32) / np.median(t16))}


def train_bench(cfg, gemm) -> dict:
    import tensorflow as tf

    from pixtrack_tf.training.tasks import LocalTask

    task = LocalTask(cfg, sequences=None)
    model = task.build_model()
    import keras

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
    from pixtrack_tf.data.bench import bench_pipeline
    from pixtrack_tf.data.pipelines import local_dataset

    r = bench_pipeline(local_dataset(sequences, cfg), 10, cfg.data.seq_len + 1)
    consumed = cfg.data.batch_size / (train_step_ms / 1000)  # sequences per second that training eats
    return {"pipeline_sequences_per_s": r["sequences_per_s"], "training_sequences_per_s": consumed, "pipeline_over_training": r["sequences_per_s"] / consumed}


def format_report(r: dict) -> str:
    lines = [
        f"config {r['config']}, {r['dtype']}, frame {r['frame'][1]}x{r['frame'][0]}",
        f"GEMM rate: {r['gemm_gflops']:.1f} GFLOP/s ({r['dtype']}); float32 {r['gemm_gflops_float32']:.1f}",
        "FLOPs per frame: " + ", ".join(f"local.{k} {v / 1e9:.3f} G" for k, v in r["flops_local"].items())
        + ", " + ", ".join(f"global.{k} {v / 1e9:.4f} G" for k, v in r["flops_global"].items()),
        f"median per tracked frame: global {r['global_ms']:.1f} ms, local {r['local_ms']:.1f} ms, crop+paste {r['crop_paste_ms']:.1f} ms, "
        f"whole step {r['step_ms']:.1f} ms = {r['frames_per_s']:.2f} frames/s",
        f"whole step: {r['step_gflop']:.2f} GFLOP, limit {r['limit_ms']:.1f} ms -> {r['limit_ratio']:.2f} of the limit "
        f"(local model alone {r['local_limit_ratio']:.2f}); retraces after the first frame: {r['retraces_after_first_frame']}",
        f"{r['objects']} objects in one batched step: {r['objects_step_ms']:.1f} ms = {r['objects_frames_per_s']:.2f} object-frames/s, "
        f"{r['objects_speedup']:.2f}x {r['objects']} single-object steps",
    ]
    if "bfloat16_speedup" in r:
        lines.append(f"bfloat16 vs float32, timed in turns in this process: {r['paired_bfloat16_step_ms']:.1f} vs "
                     f"{r['paired_float32_step_ms']:.1f} ms per step -> {r['bfloat16_speedup']:.2f}x")
    if "train_step_ms" in r:
        lines.append(f"local training step (batch {'{'}B{'}'}): {r['train_step_ms']:.0f} ms, {r['train_step_gflop']:.1f} GFLOP -> {r['train_limit_ratio']:.2f} of the limit")
    if "pipeline_sequences_per_s" in r:
        lines.append(
            f"tf.data local pipeline: {r['pipeline_sequences_per_s']:.2f} sequences/s vs training {r['training_sequences_per_s']:.2f} "
            f"-> {r['pipeline_over_training']:.1f}x"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    from pixtrack_tf.config import PRECISIONS

    p = argparse.ArgumentParser(prog="python -m pixtrack_tf.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="paper")
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--dtype", choices=PRECISIONS, default="float32")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-pipelines", action="store_true", help="skip the tf.data measurement")
    p.add_argument("--no-train", action="store_true", help="skip the training-step (and tf.data) measurement")
    p.add_argument("--objects", type=int, default=4, help="objects tracked together in the batched-step measurement")
    p.add_argument("--record", help="append the report to this Markdown file (e.g. results/benchmarks.md)")
    p.add_argument("--models-only", action="store_true",
                   help="time only the models in keras.ops on the active Keras backend (KERAS_BACKEND=jax on a GPU, no TensorFlow needed)")
    p.add_argument("--batches", default="1,8", help="with --models-only: objects per batched step, comma-separated")
    p.add_argument("--gemm-n", type=int, default=2048, help="with --models-only: matrix side of the GEMM-rate measurement")
    args = p.parse_args(argv)
    from pixtrack_tf import provenance
    from pixtrack_tf.config import load_config

    cfg = load_config(args.config, args.set)
    if args.models_only:
        r = models_bench(cfg, args.dtype, [int(b) for b in args.batches.split(",")], args.gemm_n)
        r["report"] = format_models_report(r)
        return _emit(r, args, cfg, provenance)
    seqs = None
    if not (args.no_pipelines or args.no_train):
        from pixtrack_tf.data.embedded import load_embedded

        seqs = load_embedded(num_sequences=60)
    r = run_bench(cfg, args.dtype, seqs, pipelines=not args.no_pipelines, train=not args.no_train, objects=args.objects)
    r["report"] = format_report(r).replace("{B}", str(cfg.data.batch_size))
    return _emit(r, args, cfg, provenance)


def _emit(r, args, cfg, provenance) -> int:
    if args.json:
        print(json.dumps({k: v for k, v in r.items() if k != "report"}, indent=1))
    else:
        print(r["report"])
    if args.record:
        prov = provenance.record(seed=cfg.seed, config=cfg.name)
        with open(args.record, "a") as f:
            where = f", {r['backend']} on {r['device']}" if "backend" in r else ""
            f.write(f"\n## {cfg.name}, {args.dtype}{where} — {prov['time_utc']}\n\n")
            f.write(f"- command: `{prov['command']}`\n- commit: `{prov['commit']}`\n- machine: {prov['machine']['cpu']}, {prov['machine']['cpu_count']} cores, {prov['machine']['memory_gb']} GiB\n")
            f.write(f"- versions: {json.dumps(prov['versions'])}\n\n```\n{r['report']}\n```\n\n")
            f.write("```json\n" + json.dumps({k: v for k, v in r.items() if k != "report"}) + "\n```\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
