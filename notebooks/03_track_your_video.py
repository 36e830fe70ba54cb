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
# Give the tracker a video (or a folder of frames) and the first frame's object mask; it returns a
# mask for every frame. Here the video is a DAVIS 2016 val sequence when `../shared/data/davis2016`
# is present, else a sequence of the embedded benchmark. The model is the DAVIS-trained SavedModel in
# `results/models/davis2016-cpu` (or its preview, `davis2016-cpu-preview`) when present; otherwise
# (and in smoke mode, `PIXTRACK_SMOKE=1`) a tiny model is trained for a few steps, just to show the calls.

# %%
import json
import os
from pathlib import Path

import numpy as np
from IPython.display import Image, display

SMOKE = os.environ.get("PIXTRACK_SMOKE") == "1"
ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
WORK = ROOT / "out" / ("notebook-track-smoke" if SMOKE else "notebook-track")
DAVIS = ROOT.parent / "shared" / "data" / "davis2016"

if DAVIS.is_dir():
    frames_dir = DAVIS / "JPEGImages" / "480p" / "blackswan"
    first_mask = DAVIS / "Annotations" / "480p" / "blackswan" / "00000.png"
else:
    from pixtrack_tf.data.embedded import load_embedded

    seq = load_embedded(num_sequences=60)[0]
    frames_dir, first_mask = Path(seq.frames[0]).parent, Path(seq.masks[0])
print("frames:", frames_dir, "\nfirst mask:", first_mask)

# %% [markdown]
# ## The model

# %%
candidates = [ROOT / "results" / "models" / name for name in ("davis2016-cpu", "davis2016-cpu-preview")]
model = next((m for m in candidates if (m / "saved_model.pb").exists()), None)
if SMOKE or model is None:
    from pixtrack_tf.cli import export, train

    run = WORK / "run"
    train.main(["--config", "tiny", "--dataset", "embedded", "--num-sequences", "10", "--num-frames", "20", "--out", str(run),
                "--stage", "iterative", "--no-progress", "--resume"])  # fmt: skip
    model = WORK / "savedmodel"
    if not (model / "saved_model.pb").exists():
        export.main(["--run", str(run), "--out", str(model)])
print("model:", model)

# %% [markdown]
# ## Track
# The same as `pixtrack track --model MODEL --frames DIR --mask FIRST.png --out OUT`.

# %%
from pixtrack_tf.cli import track

out = WORK / "track"
assert track.main(["--model", str(model), "--frames", str(frames_dir), "--mask", str(first_mask), "--out", str(out), "--force", "--no-progress"]) == 0
result = json.loads((out / "track.json").read_text())
print(f"{len(result['frames'])} frames, {result['frames_per_second']:.1f} frames/s")

# %% [markdown]
# ## Look at it: frames with the mask (green) and the ROI (yellow)

# %%
import imageio.v3 as iio
from PIL import Image as PILImage

video = next(out.glob("overlay.*"))
frames = iio.imread(video, index=None)
picks = np.linspace(0, len(frames) - 1, 4).round().astype(int)
strip = np.concatenate([frames[i] for i in picks], axis=1)
PILImage.fromarray(strip).resize((strip.shape[1] // 2, strip.shape[0] // 2)).save(out / "strip.png")
display(Image(filename=str(out / "strip.png")))
