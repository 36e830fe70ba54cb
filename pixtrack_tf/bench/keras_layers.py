"""Backend-neutral timing of the models in keras.ops (``bench --models-only``): KERAS_BACKEND=jax on a
GPU machine without TensorFlow, or TensorFlow here."""

from __future__ import annotations

import os

from pixtrack_tf.bench.flops import global_step_flops, local_step_flops, train_step_flops
from pixtrack_tf.bench.tracking import _median_ms
from pixtrack_tf.config import DTYPE_POLICIES


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

    light = dataclasses.replace(cfg, backbone=dataclasses.replace(cfg.backbone, weights="none"))
    policy = DTYPE_POLICIES[dtype]
    lm, gm = LocalModel.from_cfg(light, dtype=policy), GlobalModel.from_cfg(light, dtype=policy)
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
    out = {
        "backend": keras.backend.backend(),
        "device": device_name(),
        "config": cfg.name,
        "dtype": dtype,
        "jax_default_matmul_precision": os.environ.get("JAX_DEFAULT_MATMUL_PRECISION", "default"),
        "gemm_gflops": gemm,
        "gemm_gflops_float32": gemm32,
        "step_gflop": step_flop / 1e9,
        "batches": {},
    }
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
        out["batches"][str(b)] = {
            "local_ms": local_ms,
            "global_ms": global_ms,
            "step_ms": step_ms,
            "object_frames_per_s": 1000 * b / step_ms,
            "limit_ratio": limit_ms / step_ms,
        }
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
    lines = [
        f"config {r['config']}, {r['dtype']}, Keras backend {r['backend']} "
        f"on {r['device']} (models only; crop/paste not included)"
        + (f"; JAX_DEFAULT_MATMUL_PRECISION={r['jax_default_matmul_precision']}" if r["backend"] == "jax" else ""),
        f"GEMM rate: {r['gemm_gflops']:.1f} GFLOP/s ({r['dtype']}); float32 "
        f"{r['gemm_gflops_float32']:.1f}; step {r['step_gflop']:.2f} GFLOP per object",
    ]
    for b, x in r["batches"].items():
        lines.append(
            f"batch {b}: global {x['global_ms']:.2f} ms, local {x['local_ms']:.2f} ms, both {x['step_ms']:.2f} ms = "
            f"{x['object_frames_per_s']:.1f} object-frames/s, {x['limit_ratio']:.2f} of the limit"
        )
    lines.append(
        f"local training step forward+backward: {r['train_step_ms']:.1f} ms, "
        f"{r['train_step_gflop']:.1f} GFLOP -> {r['train_limit_ratio']:.2f} of the limit"
    )
    return "\n".join(lines)
