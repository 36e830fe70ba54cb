"""pixtrack+'s context convolutions (selection/RULE.md round 23; not the paper): ``plus.context`` n adds n
residual 3 x 3 convolutions with dilations 2, 4, ... at the decoder's stride 8, so each output sees the
object's whole extent; 0 (the default) is the decoder as before."""

import numpy as np
import pytest

from pixtrack_tf.config import ConfigError, load_config
from pixtrack_tf.models.plus import PlusDecoder, prior_logit


def _taps(rng, h, w):
    return {
        "block4_conv3": rng.normal(size=(1, h // 8, w // 8, 512)).astype("float32"),
        "block3_conv3": rng.normal(size=(1, h // 4, w // 4, 256)).astype("float32"),
        "block2_conv2": rng.normal(size=(1, h // 2, w // 2, 128)).astype("float32"),
    }


def _reach(decoder, rng, h=8 * 24, w=8 * 24):
    """The largest distance in stride-8 cells at which a change of the conv4_3 features at the grid's
    centre moves the decoder's output (its logit layer made non-zero)."""
    decoder.build()
    kernel, bias = decoder.out.get_weights()
    decoder.out.set_weights([rng.normal(size=kernel.shape).astype("float32"), bias])
    taps, prior = _taps(rng, h, w), rng.uniform(0.2, 0.8, (1, h, w, 1)).astype("float32")
    base = np.asarray(decoder(taps, prior))[0, ..., 0]
    moved = dict(taps)
    moved["block4_conv3"] = taps["block4_conv3"].copy()
    moved["block4_conv3"][0, 12, 12] += 5.0
    changed = np.abs(np.asarray(decoder(moved, prior))[0, ..., 0] - base) > 1e-6
    ys, xs = np.nonzero(changed)
    s = h // base.shape[0]  # output pixels a stride-8 cell holds / 8
    return int(max(np.abs(ys // (8 // s) - 12).max(), np.abs(xs // (8 // s) - 12).max()))


def test_context_widens_what_each_output_sees_and_starts_from_the_read():
    rng = np.random.default_rng(0)
    plain = _reach(PlusDecoder(width=4), rng)
    wide = _reach(PlusDecoder(width=4, context=2), rng)
    # two 3 x 3 at stride 8 reach 2 cells, upsampling and the finer stages up to 2 more; dilations 2 and 4 add 6
    assert plain <= 4 and wide >= plain + 6, (plain, wide)
    taps, prior = _taps(rng, 32, 48), rng.uniform(0, 1, (1, 32, 48, 1)).astype("float32")
    dec = PlusDecoder(width=4, context=2)  # untrained (zero logit layer): still the read itself
    pooled = prior.reshape(1, 16, 2, 24, 2, 1).mean(axis=(2, 4))
    np.testing.assert_allclose(np.asarray(dec(taps, prior)), np.asarray(prior_logit(pooled)), atol=1e-5)
    assert [layer.dilation_rate for layer in dec.context4] == [(2, 2), (4, 4)]


def test_plus_context_is_a_checked_switch_the_task_builds():
    from pixtrack_tf.config.plus_section import PlusConfig
    from pixtrack_tf.training.plus import PlusTask

    for bad in ("plus.context=-1", "plus.context=5"):
        with pytest.raises(ConfigError, match="plus.context"):
            load_config("plus", [bad])
    assert PlusConfig().context == 0 and load_config("plus").plus.context == 2  # round 23
    task = PlusTask(load_config("tiny", ["plus.crop=32", "plus.context=2"]), [], {})
    model = task.build_model()
    assert model.decoder.context == 2 and model.get_config()["context"] == 2
    names = {w.path for w in model.trainable_weights}
    assert any("context4_1" in n for n in names) and not any("context4_2" in n for n in names)


def test_a_context_run_tracks_in_a_box_and_its_savedmodel_agrees(tmp_path):
    """A run trained with plus.context=2: its SavedModel (the whole frame) reports the tracker's masks, and
    it tracks on plus.roi: mask boxes too (sizes known only when the graph runs)."""
    from pixtrack_tf.cli import train
    from pixtrack_tf.data import load_dataset
    from pixtrack_tf.runs import load_plus
    from pixtrack_tf.tracking.affinity_savedmodel import export_affinity
    from pixtrack_tf.tracking.plus import SinglePlusTracker
    from pixtrack_tf.tracking.savedmodel import SavedModelTracker

    argv = ["--config", "tiny", "--dataset", "embedded", "--num-sequences", "4", "--num-frames", "10", "--stage"]
    argv += ["plus", "--out", str(tmp_path / "run"), "--no-progress", "--set", "plus.steps=4", "--set", "plus.crop=32"]
    argv += ["--set", "plus.context=2", "--set", f"train.feature_store={tmp_path / 'store'}"]
    assert train.main(argv) == 0
    seq = load_dataset("embedded", num_sequences=4, n_frames=10)[1]
    fixed = ["track.precision=float32", "affinity.precision=float32"]
    cfg, model = load_plus(tmp_path / "run", fixed)
    assert cfg.plus.context == 2 and model.decoder.context == 2
    sm = SavedModelTracker(export_affinity(cfg, seq.size, tmp_path / "sm", model=model))
    tr = SinglePlusTracker(cfg, model)
    boxed = SinglePlusTracker(*load_plus(tmp_path / "run", fixed + ["plus.roi=mask", "plus.roi_margin=1"]))
    for t in (sm, tr, boxed):
        t.init(seq.frame(0), seq.mask(0))
    for i in range(1, 5):
        a, b, c = sm.track(seq.frame(i)), tr.track(seq.frame(i)), boxed.track(seq.frame(i))
        assert np.abs(a.prob - b.prob).max() < 1e-3
        assert c.prob.shape == b.prob.shape and (c.prob >= 0.5).any()
    assert min(boxed.roi_shares) < 1.0  # a box smaller than the frame was tracked
