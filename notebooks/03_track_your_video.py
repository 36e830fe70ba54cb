# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Track your own video
#
# Give the tracker a video (or a folder of frames) and the first frame's object mask (or a box); it
# returns a mask for every frame. This notebook tracks a DAVIS 2016 val sequence when
# `../shared/data/davis2016` is present (else a sequence of the embedded benchmark) with **the
# two-stage tracker bundled with the package** (trained on DAVIS 2016 train, an int8 SavedModel;
# `pixtrack track` uses it when no `--model` is given), shows frames with their masks and ROI boxes,
# the ROI's path against the object's, the speed, and how to run the SavedModel with TensorFlow
# alone. `PIXTRACK_SMOKE=1` (CI) trains a tiny model for a few steps instead, just to run the calls.

# %%
import json
import os
from pathlib import Path

import numpy as np
from IPython.display import Image, display

from pixtrack_tf.console import quiet_tensorflow

quiet_tensorflow()  # TensorFlow without its start-up messages

SMOKE = os.environ.get("PIXTRACK_SMOKE") == "1"
ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
WORK = ROOT / "out" / ("notebook-track-smoke" if SMOKE else "notebook-track")
DAVIS = ROOT.parent / "shared" / "data" / "davis2016"

if DAVIS.is_dir():
    name = "car-shadow"
    frames_dir = DAVIS / "JPEGImages" / "480p" / name
    masks_dir = DAVIS / "Annotations" / "480p" / name
else:
    from pixtrack_tf.data.embedded import load_embedded

    seq = load_embedded(num_sequences=60)[0]
    frames_dir, masks_dir = Path(seq.frames[0]).parent, Path(seq.masks[0]).parent
first_mask = sorted(masks_dir.glob("*.png"))[0]
print("frames:", frames_dir, "\nfirst mask:", first_mask)

# %% [markdown]
# ## The model
# The bundled tracker, and what `MODEL.json` says about how it was made.

# %%
from pixtrack_tf.runs import bundled_info, bundled_path

if SMOKE:
    from pixtrack_tf.config import load_config
    from pixtrack_tf.data import load_dataset
    from pixtrack_tf.runs import export_savedmodel
    from pixtrack_tf.training.iterative import train_stage
    from pixtrack_tf.training.loop import prepare_run_dir

    run, cfg = WORK / "run", load_config("tiny")
    prepare_run_dir(run, cfg, resume=True, force=False, data={"dataset": "embedded", "num_sequences": 10})
    train_stage(cfg, load_dataset("embedded", num_sequences=10, n_frames=20), run, "iterative", progress=False)
    model = WORK / "savedmodel"
    if not (model / "saved_model.pb").exists():
        export_savedmodel(run, model)
else:
    model = bundled_path("davis2016")
    info = bundled_info("davis2016")
    print(info["what"])
    print(
        "run folder created at commit",
        info["trained_by"].get("commit"),
        "- exported at commit",
        info["written_by"]["commit"],
    )
print("model:", model)

# %% [markdown]
# ## Track
# What `pixtrack track --frames DIR --mask FIRST.png --out OUT` does, in the library's calls: the
# default tracker (the bundled `plus`, pixtrack+: the feature-affinity read refined by a decoder
# trained on DAVIS 2016 train, not the paper's method; `--model` names another: the bundled
# `davis2016` above, `affinity`, a run folder or a SavedModel such as the smoke mode's), the first
# frame's masks, and the streamed run that writes masks, overlay and `track.json`.

# %%
import shutil

from pixtrack_tf.data.sequence import read_object_masks
from pixtrack_tf.runs import load_tracker
from pixtrack_tf.tracking.video import iter_frames, track_video

out = WORK / "track"
shutil.rmtree(out, ignore_errors=True)
masks = read_object_masks(first_mask)
name = str(model) if SMOKE else str(bundled_path("plus"))
tracker = load_tracker(name, objects=len(masks))
result = track_video(iter_frames(frames_dir), masks, tracker, out, model_name=name, progress=False)
assert result["status"] == "complete"
print(f"{result['tracked']} frames tracked, {result['frames_per_second']:.1f} frames/s on this machine")

# %% [markdown]
# ## Frames with the mask (green) and the ROI (yellow)

# %%
import imageio.v3 as iio
from PIL import Image as PILImage

video = next(out.glob("overlay.*"))
frames = iio.imread(video, index=None)
picks = np.linspace(0, len(frames) - 1, 4).round().astype(int)
strip = np.concatenate([frames[i] for i in picks], axis=1)
PILImage.fromarray(strip).resize((strip.shape[1] // 2, strip.shape[0] // 2)).save(out / "strip.png")
display(Image(filename=str(out / "strip.png")))

# %% [markdown]
# ## Does the ROI follow the object?
# The ROI's centre (from `track.json`) against the centre of the ground-truth object, frame by frame.
# A box that follows the object traces the object's line; a constant box is flat.

# %%
import matplotlib.pyplot as plt

from pixtrack_tf.data.sequence import mask_box, read_mask

boxes = np.array([f["boxes"][0] for f in result["frames"] if f["status"] == "tracked"])  # object 1's ROI per frame
gt = [mask_box(read_mask(p)) for p in sorted(masks_dir.glob("*.png"))][: len(boxes)]
gt_c = np.array([[(b[0] + b[2]) / 2, (b[1] + b[3]) / 2] if b is not None else [np.nan, np.nan] for b in gt])
fig, ax = plt.subplots(1, 2, figsize=(10, 3))
for k, axis in enumerate("xy"):
    ax[k].plot((boxes[:, k] + boxes[:, k + 2]) / 2, label="ROI centre")
    ax[k].plot(gt_c[:, k], "--", label="object centre (ground truth)")
    ax[k].set(xlabel="frame", ylabel=f"{axis} (pixels)")
ax[0].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## The SavedModel without this package
# TensorFlow alone: `initialize` on the first frame and mask, then `step` per frame, passing the
# states along. This is all a user needs to run the tracker elsewhere.

# %%
import tensorflow as tf
from PIL import Image as PILImage

m = tf.saved_model.load(str(model))
frame_paths = sorted(frames_dir.glob("*.jpg"))[:5]
first = np.asarray(PILImage.open(frame_paths[0]).convert("RGB"))
mask = (np.asarray(PILImage.open(first_mask).convert("L")) > 127).astype(np.uint8)
state = m.signatures["initialize"](frame=tf.constant(first), mask=tf.constant(mask))
for p in frame_paths[1:]:
    frame = tf.constant(np.asarray(PILImage.open(p).convert("RGB")))
    state = m.signatures["step"](frame=frame, **{k: v for k, v in state.items() if k.startswith("state_")})
print(
    "mask",
    state["mask"].shape,
    "max p %.2f" % float(tf.reduce_max(state["mask"])),
    "box",
    state["box"].numpy().round(1),
)
