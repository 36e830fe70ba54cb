"""pixtrack+'s learning-rate schedule (selection/RULE.md round 19; not the paper): ``plus.lr_schedule:
cosine`` decays the rate from ``plus.lr`` to 0 over ``plus.steps``, read from the run's step; ``constant``
(the dataclass default; configs/plus.yaml sets cosine since round 19) keeps it; the log and TensorBoard
record the rate each step trained with."""

import json
import math

import pytest

from pixtrack_tf.config import ConfigError, load_config


def test_the_schedule_is_checked_and_computed():
    from pixtrack_tf.training.plus import PlusTask

    with pytest.raises(ConfigError, match="plus.lr_schedule"):
        load_config("plus", ["plus.lr_schedule=linear"])
    from pixtrack_tf.config.plus_section import PlusConfig

    assert PlusConfig().lr_schedule == "constant" and load_config("plus").plus.lr_schedule == "cosine"  # round 19
    cfg = load_config("plus", ["plus.lr_schedule=cosine", "plus.steps=100", "plus.lr=0.001"])
    task = PlusTask(cfg, [], {})
    assert task.lr_at(0) == pytest.approx(1e-3)
    assert task.lr_at(50) == pytest.approx(5e-4)
    assert task.lr_at(100) == pytest.approx(0.0, abs=1e-12) and task.lr_at(150) == pytest.approx(0.0, abs=1e-12)
    flat = PlusTask(load_config("plus", ["plus.steps=100", "plus.lr=0.001", "plus.lr_schedule=constant"]), [], {})
    assert {flat.lr_at(s) for s in (0, 50, 99)} == {1e-3}


def test_a_cosine_run_trains_at_the_scheduled_rates(plus_run, tmp_path):
    from pixtrack_tf.cli import train

    out = tmp_path / "cos"
    argv = ["--config", "tiny", "--dataset", "embedded", "--num-sequences", "4", "--num-frames", "10"]
    argv += ["--stage", "plus", "--out", str(out), "--no-progress", "--set", "plus.steps=4", "--set", "plus.crop=32"]
    argv += ["--set", f"train.feature_store={plus_run.parent / 'store'}", "--set", "train.log_every=1"]
    assert train.main(argv + ["--set", "plus.lr_schedule=cosine", "--set", "plus.lr=0.001"]) == 0
    log = [json.loads(line) for line in (out / "plus" / "log.jsonl").read_text().splitlines()]
    rates = [row["learning_rate"] for row in log]
    assert [row["step"] for row in log] == [1, 2, 3, 4]
    want = [1e-3 * 0.5 * (1 + math.cos(math.pi * s / 4)) for s in range(4)]  # the rate step s + 1 trained with
    assert rates == pytest.approx(want, rel=1e-5, abs=1e-9)
