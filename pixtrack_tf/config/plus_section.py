"""The ``plus`` section of the config: pixtrack+ (not the paper), its choices and checks."""

from __future__ import annotations

from dataclasses import dataclass

from pixtrack_tf.config.errors import ConfigError

PLUS_SKIPS = {"block1_conv2": 1, "block2_conv2": 2, "block3_conv3": 4}  # plus.skips -> the backbone layer's stride
PLUS_MASK_PRIORS = ("none", "previous", "flow")  # plus.mask_prior: the decoder's second input channel
PLUS_MEMORY = ("read", "refined", "gated", "pruned")  # plus.memory: what a tracked frame's memory entry remembers
PLUS_GUIDES = ("grey", "colour")  # plus.guide: the frame's channels the guided filter follows
PLUS_ROIS = ("frame", "mask")  # plus.roi: where the backbone, the read and the decoder run
PLUS_COMPONENTS = ("all", "near")  # plus.components: which connected components of the output are kept
PLUS_LOSSES = ("bce", "bce+iou")  # plus.loss: the decoder's training objective
PLUS_LR_SCHEDULES = ("constant", "cosine")  # plus.lr_schedule: the decoder's learning rate over its steps


@dataclass(frozen=True)
class PlusConfig:
    """pixtrack+ (not the paper; :mod:`pixtrack_tf.tracking.plus`): the feature-affinity memory read
    (``affinity``) refined by a learned decoder on the frozen backbone's features of the same pass."""

    skips: tuple[str, ...] = ("block2_conv2", "block3_conv3")  # lower blocks fed to the decoder (fine detail)
    width: int = 32  # channels of the decoder's finest stage (x2 at conv3_3, x4 at conv4_3)
    residual: bool = True  # the decoder adds to the memory read's logit (starts from it) instead of replacing it
    # residual 3 x 3 convolutions at stride 8 after the decoder's first two, dilations 2, 4, 8, ... (0: none):
    # the decoder sees the object's whole extent, not only 5 x 5 cells (selection/RULE.md round 23)
    context: int = 0
    # what a tracked frame's memory entry remembers: "read" (the read's own labels, as the reference),
    # "refined" (the decoder's output, pooled like the first frame's mask), "gated" (the read's own labels,
    # each object's times the decoder's highest output in the cell, the rest to the background) or "pruned"
    # (the same with the factor 1 where that output is above 0.5, else 0): tracking/plus.py gate_labels
    memory: str = "read"
    # MaskTrack's mask prior, a second input channel: "none"; "previous" (the previous frame's output as
    # it is); "flow" (carried into the frame by DIS optical flow). Trained the same way for both: the
    # previous frame's ground truth, randomly deformed (no tracking pass)
    mask_prior: str = "none"
    # edge-aware upsampling of the output (tracking/guided.py): the guided filter's window radius in
    # pixels of the frame (0: off, bilinear upsampling only), its eps (on intensities in [0, 1]) and
    # guide ("grey": the frame's luma; "colour": its three channels). Training-free; the memory is
    # unchanged (it keeps the read's labels), only the reported mask follows the frame's edges;
    # guided_stride s > 1: the fast guided filter (coefficients fitted at 1/s of the frame, ~s^2 cheaper)
    guided_radius: int = 0
    guided_eps: float = 0.001
    guide: str = "grey"
    guided_stride: int = 1
    # where a tracked frame is computed (tracking only; tracking/plus.py): "frame" (the whole frame) or
    # "mask" (a box around the previous frame's output, grown by affinity.radius cells and snapped to the
    # read's tiles; outside it the frame is background; an empty previous mask gives the whole frame)
    roi: str = "frame"
    roi_margin: int = -1  # plus.roi mask: cells the box is grown by on each side (-1: affinity.radius)
    roi_context: int = 2  # plus.roi mask: cells of the frame the backbone sees around the box on each side
    # the decoder's probability t reported as 0.5 (the masks', the evaluation's, the next box's threshold):
    # the output p becomes sigmoid(logit p - logit t) after the guided filter; 0.5: as it is
    threshold: float = 0.5
    # which connected components of each object's output (>= 0.5) are reported: "all", or "near" (those
    # overlapping the previous output dilated by one feature cell; all when the previous one is empty)
    components: str = "all"
    # first-frame fine-tuning of the decoder at init (tracking/plus_finetune.py; issue element 5, as the
    # FCN's): Adam steps (0: off), learning rate, and warped copies of the first frame per step
    finetune_steps: int = 0
    finetune_lr: float = 0.0001
    finetune_copies: int = 4
    steps: int = 1500  # training steps (batch data.batch_size)
    lr: float = 0.0003
    # "constant": plus.lr at every step; "cosine": lr * (1 + cos(pi * step / steps)) / 2, to 0 at the last step
    lr_schedule: str = "constant"
    # the decoder's training loss per crop: "bce" (mean binary cross-entropy) or "bce+iou" (and 1 minus
    # the soft Jaccard index of the output against the truth: models/losses.py soft_jaccard_loss)
    loss: str = "bce"
    # the cross-entropy weighted by 1 + boundary_weight within boundary_band pixels of the resized frame of
    # the truth's boundary, over the crop's mean weight (0: unweighted; models/losses.py boundary_weights)
    boundary_weight: float = 0.0
    boundary_band: int = 3
    crop: int = 192  # training crops, in pixels of the resized frame (a multiple of 8)
    flip: bool = True  # augmentation: horizontal flips
    jitter: float = 0.15  # augmentation: brightness / contrast / saturation jitter (0: none)
    # augmentation: random affine warps of frame, read and truth together, strength a (0: none): a zoom
    # by exp(u), u uniform in [-a, a], and a rotation of at most 40 a degrees, about the crop's anchor
    affine: float = 0.0

    def __post_init__(self):
        unknown = [s for s in self.skips if s not in PLUS_SKIPS]
        if unknown:
            raise ConfigError(f"plus.skips: unknown layer(s) {unknown}; known: {', '.join(PLUS_SKIPS)}")
        if self.width < 4 or self.width % 4:
            raise ConfigError(f"plus.width must be a multiple of 4, at least 4, got {self.width}")
        if not 0 <= self.context <= 4:
            raise ConfigError(f"plus.context must lie in [0, 4] (dilations 2 ... 16), got {self.context}")
        if self.crop < 32 or self.crop % 8:
            raise ConfigError(f"plus.crop must be a multiple of 8, at least 32, got {self.crop}")
        if self.mask_prior not in PLUS_MASK_PRIORS:
            raise ConfigError(f"plus.mask_prior must be one of {', '.join(PLUS_MASK_PRIORS)}, got {self.mask_prior!r}")
        if self.memory not in PLUS_MEMORY:
            raise ConfigError(f"plus.memory must be one of {', '.join(PLUS_MEMORY)}, got {self.memory!r}")
        if self.steps < 1 or self.lr <= 0 or self.jitter < 0 or not 0 <= self.affine <= 1:
            raise ConfigError("plus.steps must be >= 1, plus.lr > 0, plus.jitter >= 0 and plus.affine in [0, 1]")
        if self.guided_radius < 0 or self.guided_eps <= 0 or self.guided_stride < 1:
            raise ConfigError(
                f"plus.guided_radius must be >= 0 (0: off), plus.guided_eps > 0 and plus.guided_stride >= 1, "
                f"got {self.guided_radius}, {self.guided_eps} and {self.guided_stride}"
            )
        if self.guide not in PLUS_GUIDES:
            raise ConfigError(f"plus.guide must be one of {', '.join(PLUS_GUIDES)}, got {self.guide!r}")
        if not 0 < self.threshold < 1:
            raise ConfigError(f"plus.threshold must be in (0, 1), got {self.threshold}")
        if self.loss not in PLUS_LOSSES:
            raise ConfigError(f"plus.loss must be one of {', '.join(PLUS_LOSSES)}, got {self.loss!r}")
        if self.boundary_weight < 0 or self.boundary_band < 1:
            raise ConfigError(
                f"plus.boundary_weight must be >= 0 (0: off) and plus.boundary_band >= 1, "
                f"got {self.boundary_weight} and {self.boundary_band}"
            )
        if self.lr_schedule not in PLUS_LR_SCHEDULES:
            raise ConfigError(
                f"plus.lr_schedule must be one of {', '.join(PLUS_LR_SCHEDULES)}, got {self.lr_schedule!r}"
            )
        if self.components not in PLUS_COMPONENTS:
            raise ConfigError(f"plus.components must be one of {', '.join(PLUS_COMPONENTS)}, got {self.components!r}")
        if self.finetune_steps < 0 or self.finetune_lr <= 0 or self.finetune_copies < 1:
            raise ConfigError(
                f"plus.finetune_steps must be >= 0 (0: off), plus.finetune_lr > 0 and plus.finetune_copies >= 1, "
                f"got {self.finetune_steps}, {self.finetune_lr} and {self.finetune_copies}"
            )
        if self.roi_margin < -1:
            raise ConfigError(f"plus.roi_margin must be >= 0 (or -1: affinity.radius), got {self.roi_margin}")
        if self.roi_context < 0:
            raise ConfigError(f"plus.roi_context must be >= 0, got {self.roi_context}")
        if self.roi not in PLUS_ROIS:
            raise ConfigError(f"plus.roi must be one of {', '.join(PLUS_ROIS)}, got {self.roi!r}")
        if self.roi == "mask" and (self.mask_prior != "none" or self.memory == "refined"):
            raise ConfigError(
                "plus.roi=mask is built for plus.mask_prior=none and plus.memory read, gated or pruned only"
            )
