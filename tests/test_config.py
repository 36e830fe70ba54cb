import pytest

from pixtrack_tf.config import ConfigError, config_from_dict, load_config, save_config, to_dict


def test_paper_config_is_table1():
    cfg = load_config("paper")
    assert cfg.local.roi_size == 224 and cfg.local.roi_size // 16 == 14  # pool4 14x14
    assert (cfg.local.fcnn_filters, cfg.local.mcnn_filters, cfg.local.lstm_filters) == (512, 1024, 256)
    assert cfg.local.deconv_filters == (128, 64, 32) and cfg.local.deconv_kernel == 5
    assert cfg.global_.conv_filters == (8, 16, 32, 64) and cfg.global_.lstm_filters == 64
    assert cfg.global_.fc_units == 1024
    assert cfg.train.tv_beta == 1000 and cfg.train.tv_lambda == 1e-4


def test_overrides_and_round_trip(tmp_path):
    cfg = load_config("cpu", ["local.lstm_filters=32", "local.mcnn_filters=128", "data.replace_frame=false"])
    assert cfg.local.lstm_filters == 32 and cfg.data.replace_frame is False
    # PyYAML reads 1e-3 (no decimal point) as a string; a float field takes it as the number
    assert load_config("tiny", ["train.local_lr=1e-3"]).train.local_lr == 0.001
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg
    assert config_from_dict(to_dict(cfg)) == cfg


def test_config_is_frozen():
    cfg = load_config("tiny")
    with pytest.raises(Exception):
        cfg.local.roi_size = 64  # type: ignore[misc]


@pytest.mark.parametrize(
    "override, message",
    [
        ("local.lstm_filtrs=64", "unknown config key(s) local.lstm_filtrs"),
        ("nosuch.key=1", "unknown config key(s) nosuch"),
        ("local.roi_size=abc", "local.roi_size: expected an integer"),
        ("train.local_lr=fast", "train.local_lr: expected a number, got 'fast'"),
        ("global.anchor_size=[0.5, 0.4]", "must be square"),
        ("local.lstm_filters=100", "must be 4 x local.lstm_filters"),
        ("local", "must look like section.key=value"),
        ("train.store_precision=float16", "train.store_precision must be one of float32, bfloat16, got 'float16'"),
    ],
)
def test_bad_overrides_are_refused(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        load_config("tiny", [override])


def test_unknown_key_in_file_names_the_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("local:\n  roi_sise: 64\n")
    with pytest.raises(ConfigError, match="bad.yaml.*local.roi_sise"):
        load_config(p)


def test_missing_config_name():
    with pytest.raises(ConfigError, match="no config named 'nope'"):
        load_config("nope")


def test_every_preset_loads_and_builds_its_models():
    """The presets ship inside the package and build their models (at their own sizes, batch 1)."""
    import dataclasses

    import numpy as np

    from pixtrack_tf.config import CONFIG_DIR
    from pixtrack_tf.models import FCNModel, GlobalModel, LocalModel

    names = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    assert {"paper", "cpu", "davis", "reproduce", "tiny"} <= set(names)
    assert CONFIG_DIR.name == "configs"  # the repository's top-level configs/ (pixtrack_tf/configs in a wheel)
    for name in names:
        cfg = load_config(name)
        cfg = dataclasses.replace(cfg, backbone=dataclasses.replace(cfg.backbone, weights="none"))
        lm, gm, fcn = LocalModel.from_cfg(cfg), GlobalModel.from_cfg(cfg), FCNModel.from_cfg(cfg)
        S, M = cfg.local.roi_size, cfg.global_.map_size
        prob, _ = lm.step(
            np.zeros((1, S, S, 3), "float32"),
            lm.initialize(np.zeros((1, S, S, 3), "float32"), np.ones((1, S, S, 1), "float32")),
        )
        assert prob.shape == (1, S, S, 1) and fcn(np.zeros((1, S, S, 3), "float32")).shape == (1, S, S, 1)
        theta, _ = gm.step(np.zeros((1, M, M, 1), "float32"), np.ones((1, 1), "float32"), gm.initial_states(1))
        assert theta.shape == (1, 3), name


def test_the_wheel_ships_the_presets(tmp_path):
    """`pip wheel` of the project contains every preset (found by name from any install) and the
    bundled models, and stays under 40 MB; installed elsewhere, it runs reproduce and track from
    another directory."""
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    import numpy as np

    from pixtrack_tf.config import CONFIG_DIR

    repo = Path(__file__).resolve().parent.parent
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(repo),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("pixtrack_tf-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"pixtrack_tf/configs/{p.name}" for p in CONFIG_DIR.glob("*.yaml")} <= names
    # the bundled models (issue #16): every file of both, and the wheel under 40 MB
    from pixtrack_tf.runs import BUNDLED, BUNDLED_DIR

    for name in BUNDLED:
        files = [p for p in (BUNDLED_DIR / name).rglob("*") if p.is_file()]
        assert (BUNDLED_DIR / name / "MODEL.json") in files, f"bundled model {name} is missing"
        assert {f"pixtrack_tf/bundled/{p.relative_to(BUNDLED_DIR).as_posix()}" for p in files} <= names
    assert wheel.stat().st_size < 40 * 2**20
    # installed elsewhere (not this checkout) and run from another directory: a preset by name,
    # python -m pixtrack_tf.reproduce and pixtrack track
    site, work = tmp_path / "site", tmp_path / "elsewhere"
    work.mkdir()
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)]
    subprocess.run(pip, check=True)
    env = {**__import__("os").environ, "PYTHONPATH": str(site)}

    def run(*argv):
        r = subprocess.run([sys.executable, *argv], cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        return r.stdout

    code = "import pixtrack_tf as p, pixtrack_tf.config as c; print(p.__file__, c.load_config('davis').name)"
    assert run("-c", code).split() == [str(site / "pixtrack_tf" / "__init__.py"), "davis"]
    assert "Table 1" in run("-m", "pixtrack_tf.reproduce", "--table", "1", "--config", "tiny")
    from PIL import Image

    frames = work / "frames"
    frames.mkdir()
    for i in range(3):
        Image.fromarray(np.full((32, 48, 3), 40 * i, np.uint8)).save(frames / f"{i:05d}.png")
    mask = np.zeros((32, 48), np.uint8)
    mask[8:20, 10:30] = 255
    Image.fromarray(mask).save(work / "m.png")
    out = run(
        "-m", "pixtrack_tf", "track", "--model", "first-mask", "--frames", "frames", "--mask", "m.png", "--out", "o"
    )
    assert out.startswith("complete: tracked 3 frames") and len(list((work / "o" / "masks").glob("*.png"))) == 3
