"""The FLOP counter against hand counts, and the bench command's JSON."""

import json

from pixtrack_tf.bench.flops import conv_flops, deconv_flops, local_step_flops, vgg_pool4_flops
from pixtrack_tf.config import load_config


def test_flop_counter_by_hand():
    # a 3x3 conv, 2 -> 4 channels, on 8x8 ('same'): 64 outputs x 4 channels x (3*3*2) MACs x 2
    assert conv_flops(3, 2, 4, 8, 8) == 64 * 4 * 18 * 2 == 9216
    # a 5x5 stride-2 transposed conv, 3 -> 2 channels, 4x4 input:
    # every input pixel scatters 5*5*2 MACs per input channel
    assert deconv_flops(5, 3, 2, 4, 4) == 16 * 3 * 25 * 2 * 2 == 4800
    # VGG16 to pool4 at 224x224 is about 28 GFLOP
    assert 27.5e9 < vgg_pool4_flops(224) < 28.5e9
    f = local_step_flops(load_config("paper"))
    # Decov-1: 14x14x256 -> 128 channels, 5x5
    assert f["decoder"] >= deconv_flops(5, 256, 128, 14, 14)


def test_bench_json(capsys):
    from pixtrack_tf.cli import bench

    assert bench.main(["--config", "tiny", "--json", "--no-pipelines"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert {"step_ms", "step_gflop", "gemm_gflops", "limit_ratio", "train_limit_ratio"} <= set(r)
    assert r["step_ms"] > 0 and r["gemm_gflops"] > 1 and r["retraces_after_first_frame"] == 0
    assert r["objects"] == 4 and r["objects_step_ms"] > 0 and r["objects_speedup"] > 0


def test_models_only_bench_batched(capsys):
    """The backend-neutral path (what runs under KERAS_BACKEND=jax on a GPU) on this backend."""
    from pixtrack_tf.cli import bench

    assert bench.main(["--config", "tiny", "--json", "--models-only", "--batches", "1,3", "--gemm-n", "256"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert set(r["batches"]) == {"1", "3"}
    for x in r["batches"].values():
        assert x["step_ms"] > 0 and 0 < x["limit_ratio"] and x["object_frames_per_s"] > 0
    assert r["train_step_ms"] > 0 and r["backend"] == "tensorflow"


def test_bfloat16_bench_times_both_precisions_in_turns(capsys):
    from pixtrack_tf.cli import bench

    assert bench.main(["--config", "tiny", "--dtype", "bfloat16", "--json", "--no-train", "--objects", "2"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["dtype"] == "bfloat16" and r["gemm_gflops"] > 0 and r["gemm_gflops_float32"] > 0
    assert r["paired_float32_step_ms"] > 0 and r["paired_bfloat16_step_ms"] > 0 and r["bfloat16_speedup"] > 0


def test_train_bench_times_images_and_store(capsys, tmp_path):
    """`bench --train` times local-model training from images and from the store in one process."""
    from pixtrack_tf.cli import bench

    argv = ["--train", "--config", "tiny", "--json", "--steps", "1", "--sequences", "2", "--precisions", "float32"]
    assert bench.main(argv + ["--store-root", str(tmp_path)]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["float32_images_frames_per_s"] > 0 and r["float32_store_frames_per_s"] > 0
    assert r["train_cached_speedup"] == r["float32_store_frames_per_s"] / r["float32_images_frames_per_s"]
    assert r["store_frames"] > 0 and r["store_mb"] > 0


def test_bench_times_the_affinity_reference_against_its_limit(capsys):
    from pixtrack_tf.cli import bench

    argv = ["--config", "tiny", "--affinity", "--json", "--objects", "2", "--set", "affinity.scale=0.25"]
    assert bench.main(argv) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["affinity"]["scale"] == 0.25 and r["affinity_gemm_gflops"] > 0
    for key in ("affinity", "affinity_2_objects"):
        assert r[f"{key}_frames_per_s"] > 0 and 0 < r[f"{key}_limit_ratio"] < 1.5
    assert r["affinity_flops"]["backbone"] > r["affinity_flops"]["labels"] > 0


def test_whole_command_bench(tmp_path, capsys):
    """bench --command: the generated 854x480 clip tracked by the pixtrack track command in a fresh
    process, its wall-clock split into start-up, decode, model and write, appended to --record."""
    from pixtrack_tf.cli import bench

    record = tmp_path / "bench.md"
    argv = ["--command", "--frames", "6", "--model", "first-mask", "--work", str(tmp_path / "w"), "--json"]
    assert bench.main(argv + ["--record", str(record)]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["frames"] == 6 and r["frame_size"] == "854x480" and r["wall_fps"] > 0
    assert 0 < r["startup_s"] < r["wall_s"] and r["loop_s"] < r["wall_s"]
    assert r["decode_s"] > 0 and r["write_s"] > 0 and r["model_s"] >= 0
    assert len(list((tmp_path / "w" / "clip" / "frames").glob("*.jpg"))) == 6
    text = record.read_text()
    assert "whole command" in text and "start-up" in text and "CPU:" in text
