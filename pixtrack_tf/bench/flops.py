"""FLOPs of the models, counted from layer shapes (for ``bench``'s limits).

FLOPs count multiply-adds as 2; convolutions 2 k^2 C_in C_out H_out W_out, transposed convolutions
2 k^2 C_in C_out H_in W_in, a ConvLSTM step its input and recurrent convolutions, dense layers
2 n_in n_out. Element-wise work, pooling and resizing are not counted (they are not GEMM-bound).
"""

from __future__ import annotations

from pixtrack_tf.models.backbone import VGG_POOL4_LAYERS


def conv_flops(k, c_in, c_out, h_out, w_out) -> int:
    return 2 * k * k * c_in * c_out * h_out * w_out


def deconv_flops(k, c_in, c_out, h_in, w_in) -> int:
    return 2 * k * k * c_in * c_out * h_in * w_in


def convlstm_flops(k, c_in, f, h, w) -> int:
    return conv_flops(k, c_in, 4 * f, h, w) + conv_flops(k, f, 4 * f, h, w)


def vgg_pool4_flops(s: int) -> int:
    return vgg_flops(s, s)


def vgg_flops(h: int, w: int, until: str | None = None) -> int:
    """The frozen VGG16's convolutions on an h x w image, up to pool4 or to the layer ``until``."""
    total, c = 0, 3
    for spec in VGG_POOL4_LAYERS:
        if spec == "pool":
            h, w = (h + 1) // 2, (w + 1) // 2
            continue
        total += conv_flops(3, c, spec[1], h, w)
        c = spec[1]
        if spec[0] == until:
            break
    return total


def affinity_step_flops(acfg, hw, objects: int = 1) -> dict:
    """FLOPs of one feature-affinity step (:mod:`pixtrack_tf.tracking.affinity`) on a frame of size
    ``hw``: the backbone to ``acfg.layer``, the similarities to the first frame (P x P x C) and to each
    recent frame's windows, and the weighted labels (P x topk x (objects + 1))."""
    from pixtrack_tf.config import AFFINITY_LAYERS
    from pixtrack_tf.tracking.affinity import Layout, feature_grid

    h, w = feature_grid(hw, acfg)
    stride = AFFINITY_LAYERS[acfg.layer]
    channels = dict(s for s in VGG_POOL4_LAYERS if s != "pool")[acfg.layer]
    lay = Layout((h, w), acfg.radius)
    window = lay.window_idx.shape[1]
    P = h * w
    return {
        "backbone": vgg_flops(h * stride, w * stride, acfg.layer),
        "first_frame": 2 * P * P * channels,
        "recent_frames": 2 * acfg.memory * lay.tiles * lay.tile_size * window * channels,
        "labels": 2 * P * acfg.topk * (objects + 1),
    }


def local_step_flops(cfg) -> dict:
    """FLOPs of one local-model tracking step (Fig. 2) by module."""
    lc = cfg.local
    f, k = lc.roi_size // 16, lc.kernel_size
    dec, c, hw = 0, lc.lstm_filters, f
    for out in list(lc.deconv_filters) + [1]:
        dec += deconv_flops(lc.deconv_kernel, c, out, hw, hw)
        c, hw = out, hw * 2
    return {
        "backbone": vgg_pool4_flops(lc.roi_size),
        "fcnn": conv_flops(k, 512, lc.fcnn_filters, f, f) + conv_flops(k, lc.fcnn_filters, lc.fcnn_filters, f, f),
        "convlstm": convlstm_flops(k, lc.fcnn_filters, lc.lstm_filters, f, f)
        + convlstm_flops(k, lc.lstm_filters, lc.lstm_filters, f, f),
        "decoder": dec,
    }


def mcnn_flops(cfg) -> int:
    lc = cfg.local
    f, k = lc.roi_size // 16, lc.kernel_size
    return conv_flops(k, 1024, lc.mcnn_filters, f, f) + conv_flops(k, lc.mcnn_filters, lc.mcnn_filters, f, f)


def global_step_flops(cfg) -> dict:
    gc = cfg.global_
    k, s, c, convs = gc.kernel_size, gc.map_size, 1, 0
    for f in gc.conv_filters:
        convs += conv_flops(k, c, f, s, s) + conv_flops(k, f, f, s, s)
        c, s = f, s // 2
    return {
        "convs": convs,
        "convlstm": convlstm_flops(k, c, gc.lstm_filters, s, s)
        + convlstm_flops(k, gc.lstm_filters, gc.lstm_filters, s, s),
        "fc": 2 * s * s * gc.lstm_filters * gc.fc_units + 2 * (gc.fc_units + 1) * 3,
    }


def train_step_flops(cfg) -> int:
    """One local training step: the frozen backbone forward only (T frames + the first frame twice),
    the trainable layers forward + backward (~3x forward)."""
    T, B = cfg.data.seq_len, cfg.data.batch_size
    per = local_step_flops(cfg)
    trainable = per["fcnn"] + per["convlstm"] + per["decoder"]
    return B * ((T + 2) * per["backbone"] + 3 * T * trainable + 3 * mcnn_flops(cfg))
