"""Table 1 beside our layers (the library part of ``pixtrack summary``).

For each module of Table 1 it prints the paper's filter size, channels and stride next to the
built layer's, with the layer's parameter count; the frozen VGG16 backbone is listed too.
"""

from __future__ import annotations

# Table 1 of the paper: module -> (filter size, channels, stride)
TABLE1_LOCAL = {
    "M-CNN x2": (3, 1024, 1),
    "F-CNN x2": (3, 512, 1),
    "ConvLSTM x2": (3, 256, 1),
    "Decov-1": (5, 128, 2),
    "Decov-2": (5, 64, 2),
    "Decov-3": (5, 32, 2),
    "Decov-4": (5, 1, 2),
}
TABLE1_GLOBAL = {
    "layer 1 x2": (3, 8, 1),
    "layer 2 x2": (3, 16, 1),
    "layer 3 x2": (3, 32, 1),
    "layer 4 x2": (3, 64, 1),
    "ConvLSTM x2": (3, 64, 1),
    "full 1": (None, 1024, None),
    "full 2": (None, 3, None),
}
BACKBONE_KEY = "backbone (VGG16 conv1_1..pool4, frozen)"


def _params(layers):
    return int(sum(int(w.numpy().size) for layer in layers for w in layer.weights))


def _row(paper, layers, kernel, channels, stride):
    return {
        "params": _params(layers),
        "filter_size": kernel,
        "channels": channels,
        "stride": stride,
        "paper_filter_size": paper[0],
        "paper_channels": paper[1],
        "paper_stride": paper[2],
    }


def model_summary(cfg) -> dict:
    """``{"local": {module: row}, "global": {module: row}}`` for a built pair of models."""
    import dataclasses

    from pixtrack_tf.models import GlobalModel, LocalModel

    cfg = dataclasses.replace(cfg, backbone=dataclasses.replace(cfg.backbone, weights="none"))
    lm, gm = LocalModel.from_cfg(cfg), GlobalModel.from_cfg(cfg)
    lc, gc = cfg.local, cfg.global_
    local = {
        BACKBONE_KEY: {
            "params": _params([lm.backbone]),
            "trainable": False,
            "filter_size": 3,
            "channels": 512,
            "stride": 1,
        },
        "M-CNN x2": _row(TABLE1_LOCAL["M-CNN x2"], lm.mcnn, lc.kernel_size, lc.mcnn_filters, 1),
        "F-CNN x2": _row(TABLE1_LOCAL["F-CNN x2"], lm.fcnn, lc.kernel_size, lc.fcnn_filters, 1),
        "ConvLSTM x2": _row(TABLE1_LOCAL["ConvLSTM x2"], [lm.lstm1, lm.lstm2], lc.kernel_size, lc.lstm_filters, 1),
    }
    for i, dc in enumerate(lm.decoder.deconvs):
        key = f"Decov-{i + 1}"
        local[key] = _row(TABLE1_LOCAL[key], [dc], lc.deconv_kernel, dc.filters, 2)
    glob = {}
    for i in range(len(gc.conv_filters)):
        key = f"layer {i + 1} x2"
        glob[key] = _row(
            TABLE1_GLOBAL.get(key, (None, None, None)),
            gm.convs[2 * i : 2 * i + 2],
            gc.kernel_size,
            gc.conv_filters[i],
            1,
        )
    glob["ConvLSTM x2"] = _row(TABLE1_GLOBAL["ConvLSTM x2"], [gm.lstm1, gm.lstm2], gc.kernel_size, gc.lstm_filters, 1)
    glob["full 1"] = _row(TABLE1_GLOBAL["full 1"], [gm.fc1], None, gc.fc_units, None)
    glob["full 1"]["input_dim"] = int(gm.fc1.kernel.shape[0])
    glob["full 2"] = _row(TABLE1_GLOBAL["full 2"], [gm.fc2], None, 3, None)
    glob["full 2"]["input_dim"] = int(gm.fc2.kernel.shape[0])
    return {"config": cfg.name, "local": local, "global": glob}


def format_table(summary: dict) -> str:
    def fmt(v):
        return "-" if v is None else (f"{v}x{v}" if isinstance(v, int) and v in (3, 5) else str(v))

    lines = []
    for part in ("local", "global"):
        lines.append(f"{part.capitalize()} model ({summary['config']} config)")
        lines.append(f"  {'module':<42} {'paper: filter ch stride':<26} {'ours: filter ch stride':<26} {'params':>12}")
        total = 0
        for name, row in summary[part].items():
            paper = (
                "(not in Table 1)"
                if "paper_channels" not in row
                else (
                    f"{fmt(row['paper_filter_size'])} {row['paper_channels']} "
                    f"{fmt(row['paper_stride']) if row['paper_stride'] else '-'}"
                )
            )
            ours = f"{fmt(row['filter_size'])} {row['channels']} {row['stride'] if row['stride'] else '-'}"
            extra = f"  (input {row['input_dim']})" if "input_dim" in row else ""
            flag = "" if "paper_channels" not in row or row["paper_channels"] == row["channels"] else "  *"
            lines.append(f"  {name:<42} {paper:<26} {ours:<26} {row['params']:>12,}{extra}{flag}")
            total += row["params"]
        lines.append(f"  {'total':<42} {'':<26} {'':<26} {total:>12,}")
        lines.append("")
    lines.append("* channels differ from Table 1 (a reduced config).")
    return "\n".join(lines)
