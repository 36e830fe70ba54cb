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
