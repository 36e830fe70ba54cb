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
# # Table 2: the local model with near-ground-truth ROIs
#
# Sec. 5.3 of the paper compares the ConvLSTM local model with an FCN fine-tuned on the first frame,
# both fed ROIs that follow the ground truth at t - 5 (centre smoothed with beta = 0.8). This runs
# `python -m pixtrack_tf.reproduce --table 2` on the embedded benchmark (not VOT2016) and shows the
# table and figures. Set `PIXTRACK_SMOKE=1` for the tiny smoke version used in CI.

# %%
import json
import os
from pathlib import Path

from IPython.display import Image, Markdown, display

from pixtrack_tf.cli import reproduce

SMOKE = os.environ.get("PIXTRACK_SMOKE") == "1"
ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
OUT = ROOT / "out" / ("notebook-reproduce-smoke" if SMOKE else "reproduce-embedded")
args = ["--table", "2", "--out", str(OUT), "--no-progress"] + (["--quick"] if SMOKE else [])
assert reproduce.main(args) == 0

# %%
display(Markdown((OUT / "table2.md").read_text()))

# %%
doc = json.loads((OUT / "table2.json").read_text())
print("AUC:", doc["auc"])
for f in ("table2_roc.png", "table2_iou_per_frame.png", "table2_overlays.png"):
    display(Image(filename=str(OUT / f)))
