"""Track objects through your own video: ``pixtrack track`` (``python -m pixtrack_tf track``).

    pixtrack track [--model PATH] (--frames DIR | --video FILE) (--mask FIRST.png [--objects 1,3] |
                   --box x,y,w,h [--box ...]) --out DIR [--threshold 0.5] [--force | --resume]

``--model``: by default ``plus``, pixtrack+ (not the paper's method: the feature-affinity read refined
by a decoder trained on DAVIS 2016 train; it beat the affinity reference on the half of DAVIS train it
was not trained on, by a rule fixed beforehand, and so became the default; the command says so on
stderr, and ``plus`` names it); ``davis2016`` (the paper's two-stage tracker trained on DAVIS
2016 that ships with the package, :mod:`pixtrack_tf.runs`) or ``embedded``; an exported SavedModel
(``pixtrack export``), a training run folder (a compact one too), or
one of the reference trackers that need no training, ``first-mask`` (the first mask on every frame),
``optical-flow`` (the mask carried from frame to frame by DIS optical flow) and ``affinity`` (labels
propagated by feature affinity over the frozen VGG16, :mod:`pixtrack_tf.tracking.affinity`; its
settings by ``--set affinity.KEY=VALUE``): run them on your footage to see what a trained model has
to beat.

Objects: a binary mask (0/255, {0,1}, RGB, RGBA, 8 or 16 bit) is one object; a grey (soft) mask is
thresholded at half its range, with a warning. A palette (indexed) PNG with values 1..N, DAVIS 2017
style, is N objects (``--objects 1,3`` picks some), tracked together (a run folder tracks them in one
batched step). ``--box x,y,w,h`` (repeatable) makes each box's filled rectangle an object mask, which
the tracker then treats exactly like a mask (ROI of twice the box's longer side; M-CNN reads the
dilated box). A tight box works best.

Writes, frame by frame (memory does not grow with the video): ``DIR/masks/<frame>.png`` (0/255 for one
object, a palette PNG with value k = object k for several), ``DIR/frames.jsonl`` (one line per frame),
``DIR/overlay.mp4`` (``overlay.gif`` without an MP4 encoder) and ``DIR/track.json`` (summary, status and
every frame's ROI boxes, areas and seconds). A frame that cannot be decoded is reported and skipped
(the tracker keeps its state); a video that cannot be decoded to its end stops there. Exit status: 0
every frame tracked; 4 finished with frames skipped or the video cut short (``status: incomplete``);
130 interrupted (Ctrl-C; ``status: interrupted``); 2 unusable input (nothing tracked). ``--resume``
tracks again into DIR from the first frame (the trackers need every earlier frame) and keeps the masks
already written. TensorFlow's start-up messages are silenced unless ``--verbose``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from pixtrack_tf.cli.common import run_command


def build_parser():
    from pixtrack_tf.config import PRECISIONS

    p = argparse.ArgumentParser(prog="pixtrack track", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--model",
        default=None,
        help="SavedModel folder, training run folder, or first-mask / optical-flow / affinity (references, no "
        "training); "
        "davis2016 / embedded (the paper's tracker, bundled); plus (pixtrack+, bundled, the default)",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--frames", help="folder of frames (sorted by name)")
    src.add_argument("--video", help="video file (mp4, avi, ...)")
    init = p.add_mutually_exclusive_group(required=True)
    init.add_argument("--mask", help="the first frame's object mask (PNG; a palette PNG holds one object per index)")
    init.add_argument(
        "--box", action="append", help="an object's box x,y,w,h in pixels on the first frame (repeatable)"
    )
    p.add_argument("--objects", help="with a palette --mask: the object indices to track, e.g. 1,3 (default: all)")
    p.add_argument("--out", required=True)
    p.add_argument("--threshold", type=float, default=0.5, help="probability above which a pixel is object")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--force", action="store_true", help="replace an existing output folder")
    g.add_argument(
        "--resume", action="store_true", help="track again into an existing output folder, keeping its masks"
    )
    p.add_argument(
        "--precision",
        choices=("auto", *PRECISIONS),
        default="auto",
        help="arithmetic of the network: auto (default) = bfloat16 where this CPU has it (AMX / AVX512-BF16) and "
        "it measures faster, float32 elsewhere and for a SavedModel",
    )
    p.add_argument("--no-overlay", action="store_true", help="write the masks and track.json only (no overlay video)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config value: of a run folder's config, or of a reference tracker's (e.g. affinity.scale=1)",
    )
    p.add_argument(
        "--fast",
        action="store_true",
        help="pixtrack+ in its fast form: the frame at half size instead of 0.75 (affinity.scale 0.5, "
        "affinity.radius 6, plus.roi_margin 3), about 3x faster a frame; DAVIS 2016 val J 0.671 / F 0.599 "
        "instead of 0.696 / 0.650",
    )
    p.add_argument("--no-progress", action="store_true")
    return p


def warn(msg) -> None:
    print(msg, file=sys.stderr)


def first_masks(args, first) -> dict:
    """``{object id: (H, W) bool}`` of the first frame, from ``--mask`` (a palette: one object per
    index, ``--objects`` a subset) or each ``--box``."""
    from pixtrack_tf.data import DataError
    from pixtrack_tf.data.sequence import read_object_masks
    from pixtrack_tf.tracking.video import parse_box

    if not args.mask:
        if args.objects:
            raise ValueError("--objects goes with a palette --mask")
        return {k + 1: parse_box(b, first.shape[:2]) for k, b in enumerate(args.box)}
    wanted = [int(v) for v in args.objects.split(",")] if args.objects else None
    masks = read_object_masks(args.mask, wanted, warn)
    for k, m in masks.items():
        if m.shape != first.shape[:2]:
            raise DataError(
                f"{args.mask}: mask is {m.shape[1]}x{m.shape[0]} but the frames are {first.shape[1]}x{first.shape[0]}"
            )
        if not m.any():
            which = f" of object {k}" if len(masks) > 1 else ""
            raise DataError(f"{args.mask}: the mask is empty (no object pixel{which})")
    return masks


def model_path(model: str | None, precision: str = "auto") -> str:
    """What ``--model`` names, said once to the user: the default tracker, a bundled one (in the
    precision ``--precision`` asks for or, with ``auto``, this CPU's: ``davis2016`` has a bfloat16
    export), or a path."""
    from pixtrack_tf.runs import BUNDLED, PRECISION_VARIANTS, bundled_path, describe

    if model is None:
        warn(
            "model: plus, pixtrack+ (not the paper's method): the feature-affinity memory read over the frozen "
            "HED VGG16 refined by a decoder trained on DAVIS 2016 train; it replaced the affinity tracker as the "
            "default by a rule fixed on DAVIS train's halves. The paper's tracker: --model davis2016; the "
            "training-free read alone: --model affinity"
        )
        return str(bundled_path("plus"))

    if model in BUNDLED and not Path(model).exists():
        if precision == "auto":
            from pixtrack_tf.hardware import auto_precision

            precision = auto_precision()["precision"]
        model = PRECISION_VARIANTS.get((model, precision), model)
        warn(f"model: {describe(model)}")
        return str(bundled_path(model))
    return model


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: _track(args), extra_errors=(ValueError, StopIteration, OSError))


def _track(args) -> int:
    from pixtrack_tf.data import DataError
    from pixtrack_tf.runs import load_tracker, resolve_precision
    from pixtrack_tf.tracking.video import iter_frames, track_video

    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.resume:
        if not args.force:
            raise DataError(
                f"{out} exists and is not empty; pass --force to replace it or --resume (nothing was written)"
            )
        shutil.rmtree(out)
    frames = iter_frames(args.frames, args.video)
    name, first, error = next(frames, (None, None, "no frames"))
    if error is not None:
        raise DataError(error)
    masks = first_masks(args, first)
    args.model = model_path(args.model, args.precision)
    if args.fast:
        from pixtrack_tf.runs import PLUS_FAST, is_plus_run

        if not is_plus_run(args.model):
            raise ValueError(f"--fast is pixtrack+'s fast form; {args.model} is not a pixtrack+ model")
        args.set = [*PLUS_FAST, *args.set]  # a --set of the same key wins
        warn(f"fast form: {' '.join(PLUS_FAST)}")
    precision, info = resolve_precision(args.model, args.precision)
    if precision is not None:  # said once, where a network computes
        warn(f"precision: {info['precision']} ({info['precision_reason']})")
    tracker = load_tracker(args.model, precision, objects=len(masks), overrides=args.set)

    def stream():
        yield name, first, None
        yield from frames

    r = track_video(
        stream(),
        masks,
        tracker,
        out,
        args.threshold,
        str(args.model),
        not args.no_progress,
        warn,
        args.resume,
        overlay=not args.no_overlay,
        info=info,
    )
    wrote = [out / "masks", *([out / r["overlay"]] if r["overlay"] else []), out / "track.json"]
    wall_fps = r["tracked"] / r["seconds"] if r["seconds"] > 0 else float("nan")
    print(
        f"{r['status']}: tracked {r['tracked']} frames ({r['skipped']} skipped) of {len(masks)} object(s) "
        f"in {r['seconds']:.1f} s, {wall_fps:.1f} frames/s wall-clock ({r['frames_per_second']:.1f} in the "
        f"tracking steps alone); wrote {', '.join(map(str, wrote))}"
    )
    return {"complete": 0, "incomplete": 4, "interrupted": 130}[r["status"]]
