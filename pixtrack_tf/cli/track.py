"""Track an object through your own video: ``pixtrack track`` / ``python -m pixtrack_tf.track``.

    pixtrack track --model PATH (--frames DIR | --video FILE) (--mask FIRST.png | --box x,y,w,h)
                   --out DIR [--threshold 0.5] [--force]

``--model``: an exported SavedModel (``python -m pixtrack_tf.export``), a training run folder, or
one of the reference trackers that need no training, ``first-mask`` (the first mask on every frame)
and ``optical-flow`` (the mask carried from frame to frame by DIS optical flow): run them on your
footage to see what a trained model has to beat.
Writes ``DIR/masks/<frame name>.png`` (0/255, the frame's size, one per input frame, the first being
the given mask), ``DIR/overlay.mp4`` (``overlay.gif`` when no MP4 encoder is available),
``DIR/track.json`` (per frame: ROI box, mask area, seconds) and prints frames/s.

Initialising from ``--box x,y,w,h``: the object mask of the first frame is the filled box (pixels
x..x+w-1, y..y+h-1), which the tracker then treats exactly like a mask (ROI of twice the box's longer
side; M-CNN reads the dilated box). A tight box works best.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def main(argv=None) -> int:
    from pixtrack_tf.config import PRECISIONS

    p = argparse.ArgumentParser(prog="pixtrack track", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--model",
        required=True,
        help="SavedModel folder, training run folder, or first-mask / optical-flow (references, no training)",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--frames", help="folder of frames (sorted by name)")
    src.add_argument("--video", help="video file (mp4, avi, ...)")
    init = p.add_mutually_exclusive_group(required=True)
    init.add_argument("--mask", help="the first frame's object mask (PNG; any non-zero pixel is object)")
    init.add_argument("--box", help="the first frame's object box x,y,w,h in pixels")
    p.add_argument("--out", required=True)
    p.add_argument("--threshold", type=float, default=0.5, help="probability above which a pixel is object")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=None,
        help="arithmetic of a run folder's models (default: the run's track.precision)",
    )
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)

    from pixtrack_tf.data import DataError, read_folder, read_mask, read_video
    from pixtrack_tf.tracking.video import load_tracker, parse_box, track_video

    out = Path(args.out)
    try:
        if out.exists() and any(out.iterdir()):
            if not args.force:
                raise DataError(f"{out} exists and is not empty; pass --force to replace it (nothing was written)")
            shutil.rmtree(out)
        seq = read_folder(args.frames) if args.frames else read_video(args.video)
        first = seq.frame(0)
        if args.mask:
            mask = read_mask(args.mask)
            if mask.shape != first.shape[:2]:
                raise DataError(
                    f"{args.mask}: mask is {mask.shape[1]}x{mask.shape[0]} "
                    f"but the frames are {first.shape[1]}x{first.shape[0]}"
                )
            if not mask.any():
                raise DataError(f"{args.mask}: the mask is empty (no object pixel)")
        else:
            mask = parse_box(args.box, first.shape[:2])
        tracker = load_tracker(args.model, args.precision)
    except (DataError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    r = track_video(seq, mask, tracker, out, args.threshold, str(args.model), progress=not args.no_progress)
    print(
        f"tracked {r['frames']} frames in {r['seconds']:.1f} s: "
        f"{r['frames_per_second']:.1f} frames/s (tracking steps only); "
        f"wrote {out / 'masks'}, {r['video']}, {out / 'track.json'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
