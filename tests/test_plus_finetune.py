"""pixtrack+'s first-frame fine-tuning (plus.finetune_steps; issue #31's element 5; not the paper): its
copies move frame and masks together, it adapts the decoder for one video only, it is repeatable, and
the SavedModel export leaves it out."""

import numpy as np
import pytest

from pixtrack_tf.tracking.plus_finetune import first_frame_copies

FIXED = ["track.precision=float32", "affinity.precision=float32"]


def test_first_frame_copies_warp_frame_and_masks_together():
    frame = np.zeros((64, 80, 3), np.uint8)
    frame[20:40, 30:50] = 200
    masks = np.stack([frame[..., 0] / 200.0, np.zeros((64, 80))]).astype(np.float32)
    masks[1, 5:10, 5:10] = 1.0
    frames, warped = first_frame_copies(frame, masks, 3, np.random.default_rng(0), shift=6.0)
    assert frames.shape == (3, 64, 80, 3) and frames.dtype == np.uint8 and warped.shape == (3, 2, 64, 80)
    for f, m in zip(frames, warped):
        np.testing.assert_allclose(f[..., 0] / 200.0, m[0], atol=0.01)  # the same warp (no jitter)
        assert not np.allclose(m[0], masks[0])  # and a warp
        ys, xs = np.nonzero(m[0] >= 0.5)
        assert abs(ys.mean() - 29.5) < 9 and abs(xs.mean() - 39.5) < 9  # about the centre, shifted <= 6 px
    again = first_frame_copies(frame, masks, 3, np.random.default_rng(0), shift=6.0)
    np.testing.assert_array_equal(again[0], frames)
    jittered = first_frame_copies(frame, masks, 3, np.random.default_rng(0), shift=6.0, jitter=0.2)[0]
    assert np.abs(jittered.astype(int) - frames).max() > 0  # the colours change, not the warp


def _tracker(run, *switches):
    from pixtrack_tf.runs import load_plus
    from pixtrack_tf.tracking.plus import SinglePlusTracker

    return SinglePlusTracker(*load_plus(run, [*FIXED, *switches]))


def _track(tracker, seq, n=4):
    out = [tracker.init(seq.frame(0), seq.mask(0)).prob]
    return out + [tracker.track(seq.frame(i)).prob for i in range(1, n)]


def test_finetuning_adapts_the_decoder_for_one_video_only(plus_run):
    """init fine-tunes a copy of the decoder's weights (the model's own stay as trained), the tracker
    computes with the copy (its masks differ from the untuned tracker's), init_info reports it, and a
    second init of the same video, after another one, gives the same masks (nothing carried over)."""
    from pixtrack_tf.data import load_dataset

    seqs = load_dataset("embedded", num_sequences=4, n_frames=10)
    tuned = _tracker(plus_run, "plus.finetune_steps=5", "plus.finetune_lr=0.01", "plus.finetune_copies=2")
    plain = _tracker(plus_run)
    before = [np.array(v) for v in tuned.model.decoder.trainable_variables]
    first = _track(tuned, seqs[1])
    info = tuned.init_info
    assert set(info) == {"finetune_iou_before", "finetune_iou_after", "finetune_seconds"}
    assert info["finetune_seconds"] > 0
    for v, w in zip(tuned.model.decoder.trainable_variables, before):
        np.testing.assert_array_equal(np.array(v), w)
    tuned_vars = tuned.finetuning.tuning.variables
    assert max(np.abs(np.array(t) - w).max() for t, w in zip(tuned_vars, before)) > 0
    untuned = _track(plain, seqs[1])
    assert max(np.abs(a - b).max() for a, b in zip(first[1:], untuned[1:])) > 1e-4
    assert plain.init_info == {}
    _track(tuned, seqs[2])
    for a, b in zip(_track(tuned, seqs[1]), first):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("roi", ["frame", "mask"])
def test_finetuning_with_zero_rate_is_the_trained_tracker(plus_run, roi):
    """With a learning rate too small to move the weights the fine-tuned tracker (whole frame or the
    box around the previous output) tracks as the trained one: the scope passes the weights through."""
    from pixtrack_tf.data import load_dataset

    seq = load_dataset("embedded", num_sequences=4, n_frames=10)[1]
    still = _tracker(plus_run, f"plus.roi={roi}", "plus.finetune_steps=1", "plus.finetune_lr=1e-30")
    for a, b in zip(_track(still, seq), _track(_tracker(plus_run, f"plus.roi={roi}"), seq)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_finetuning_settings_are_checked_and_export_leaves_it_out(plus_run, tmp_path, capsys):
    """Bad settings are refused; a run that fine-tunes is exported with its weights as trained, and
    the export says so."""
    import shutil

    import yaml

    from pixtrack_tf.cli import export
    from pixtrack_tf.config import ConfigError, load_config

    for bad in ("plus.finetune_steps=-1", "plus.finetune_lr=0", "plus.finetune_copies=0"):
        with pytest.raises(ConfigError, match="finetune"):
            load_config("plus", [bad])
    assert export.main(["--run", str(plus_run), "--out", str(tmp_path / "as-is"), "--frame-size", "64x48"]) == 0
    assert "note:" not in capsys.readouterr().err  # a run of the whole frame, untuned: nothing left out
    run = tmp_path / "run"
    shutil.copytree(plus_run, run)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["plus"]["finetune_steps"] = 3
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    assert export.main(["--run", str(run), "--out", str(tmp_path / "sm"), "--frame-size", "64x48"]) == 0
    err = capsys.readouterr().err
    assert "plus.finetune_steps: 0); the run's plus.roi frame, plus.components all, plus.finetune_steps 3 are" in err
