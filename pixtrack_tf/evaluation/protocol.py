"""The test protocol: clips of 20/40/80/160 frames from the test sequences, tracked by each method,
written as raw results (pysot style) for a separate evaluator.

"average IOU at different sequence length ... For sequences shorter than the pre-set length, we
upsample the testing sequences to the fixed length." (Tables 2 and 3). A clip starts at a random
frame whose mask is not empty (the tracker is initialised there from the ground truth) and, when
fewer frames remain than the length, is stretched in time by repeating frames.

Raw results: ``<raw>/<method>/<sequence>/<clip>/NNNNN.png`` - the probability map of each tracked
frame as 8-bit PNG (p x 255, the frame's size) - and ``frames.json`` (frame indices, ROI boxes,
seconds per frame). A clip already written is not tracked again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pixtrack_tf.data.pipelines import MIN_OBJECT_PIXELS, clip_indices


@dataclass(frozen=True)
class Clip:
    sequence: str
    start: int
    length: int
    indices: tuple

    @property
    def key(self) -> str:
        return f"L{self.length:04d}_s{self.start:05d}"


def sample_clips(sequences, lengths, per_sequence: int, seed: int) -> list[Clip]:
    """``per_sequence`` clips of each length from each sequence, seeded."""
    clips = []
    for k, s in enumerate(sequences):
        n = len(s)
        starts = [i for i in range(n - 1) if s.mask(i).sum() >= MIN_OBJECT_PIXELS]
        if not starts:
            continue
        for L in lengths:
            rng = np.random.default_rng([seed, k, int(L)])
            fits = [i for i in starts if i <= n - L] or starts
            for t0 in sorted(set(int(x) for x in rng.choice(fits, size=min(per_sequence, len(fits)), replace=False))):
                clips.append(Clip(s.name, t0, int(L), tuple(int(i) for i in clip_indices(n, t0, int(L)))))
    return clips


def whole_sequences(sequences) -> list[Clip]:
    """One clip per sequence: every frame from the first (DAVIS protocol)."""
    return [Clip(s.name, 0, len(s), tuple(range(len(s)))) for s in sequences]


def run_clips(method: str, make_tracker, clips, sequences, raw_dir, progress=True) -> Path:
    """Track every clip with ``make_tracker(sequence, clip)`` and write raw results."""
    by_name = {s.name: s for s in sequences}
    root = Path(raw_dir) / method
    todo = [c for c in clips if not (root / c.sequence / c.key / "frames.json").exists()]
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(c.length for c in todo), desc=method, unit="frame")
    for c in todo:
        seq = by_name[c.sequence]
        d = root / c.sequence / c.key
        d.mkdir(parents=True, exist_ok=True)
        tracker = make_tracker(seq, c)
        import time

        t = time.perf_counter()
        res = tracker.init(seq.frame(c.indices[0]), seq.mask(c.indices[0]))
        boxes, seconds = [res.box.tolist()], [time.perf_counter() - t]
        init_info = dict(getattr(tracker, "init_info", {}) or {})
        for j, i in enumerate(c.indices[1:], start=1):
            t = time.perf_counter()
            res = tracker.track(seq.frame(i))
            seconds.append(time.perf_counter() - t)
            boxes.append([float(v) for v in res.box])
            Image.fromarray((np.clip(res.prob, 0, 1) * 255 + 0.5).astype(np.uint8)).save(d / f"{j:05d}.png")
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.update(1)
        (d / "frames.json").write_text(
            json.dumps(
                {**asdict(c), "indices": list(c.indices), "boxes": boxes, "seconds": seconds, "init_info": init_info}
            )
        )
    if bar is not None:
        bar.close()
    return root


def read_clip(d: Path) -> tuple[dict, list]:
    """(frames.json, [probability map of tracked frame 1, 2, ...]) of one raw clip folder."""
    meta = json.loads((d / "frames.json").read_text())
    probs = [np.asarray(Image.open(d / f"{j:05d}.png"), np.float32) / 255.0 for j in range(1, len(meta["indices"]))]
    return meta, probs
