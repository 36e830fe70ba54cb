import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DAVIS_ROOT = REPO.parent / "shared" / "data" / "davis2016"


@pytest.fixture(scope="session")
def tiny_cfg():
    from pixtrack_tf.config import load_config

    return load_config("tiny")


@pytest.fixture(scope="session")
def davis_root():
    if not (DAVIS_ROOT / "JPEGImages" / "480p").is_dir():
        pytest.skip(f"DAVIS 2016 not found at {DAVIS_ROOT}")
    return DAVIS_ROOT


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: slow tests (minutes); run with -m slow")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A training run folder with (random) tiny local and global models: a global model that moves
    the ROI and a local model confident enough that objects show in thresholded masks."""
    import numpy as np

    from pixtrack_tf.config import load_config, save_config
    from pixtrack_tf.models import GlobalModel, LocalModel

    d = tmp_path_factory.mktemp("run")
    cfg = load_config("tiny")
    lm, gm = LocalModel.from_cfg(cfg), GlobalModel.from_cfg(cfg)
    rng = np.random.default_rng(0)
    for w in lm.trainable_weights + gm.trainable_weights:
        w.assign(rng.normal(0, 0.2, w.shape).astype("float32"))
    gm.fc2.bias.assign([0.3, 0.05, -0.05])
    lm.decoder.deconvs[-1].bias.assign([2.0])
    save_config(cfg, d / "config.yaml")
    for part, m in (("local", lm), ("global", gm)):
        (d / part).mkdir()
        m.save_weights(d / part / "model.weights.h5")
    return d


@pytest.fixture(scope="session")
def plus_run(tmp_path_factory):
    """A tiny pixtrack+ run: the reads of 4 embedded sequences, then a few decoder steps."""
    from pixtrack_tf.cli import train

    root = tmp_path_factory.mktemp("plus")
    out = root / "run"
    argv = ["--config", "tiny", "--dataset", "embedded", "--num-sequences", "4", "--num-frames", "10"]
    argv += ["--stage", "plus", "--out", str(out), "--no-progress", "--set", "plus.steps=4", "--set", "plus.crop=32"]
    argv += ["--set", f"train.feature_store={root / 'store'}"]
    assert train.main(argv) == 0
    return out
