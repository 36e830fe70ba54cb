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
# # Table 3: two-stage vs one-stage vs FCN
#
# Table 3 of the paper: the two-stage tracker (Algorithm 1), the 1-stage baseline (ROI centred by Eq. 5)
# and the FCN fine-tuned on the first frame with its own centroid ROI. This runs
# `python -m pixtrack_tf.reproduce --table 3` on the embedded benchmark (not VOT2016) and shows the
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
args = ["--table", "3", "--out", str(OUT), "--no-progress"] + (["--quick"] if SMOKE else [])
assert reproduce.main(args) == 0

# %%
display(Markdown((OUT / "table3.md").read_text()))

# %%
doc = json.loads((OUT / "table3.json").read_text())
print("AUC:", doc["auc"])
for f in ("table3_roc.png", "table3_iou_per_frame.png", "table3_overlays.png"):
    display(Image(filename=str(OUT / f)))
