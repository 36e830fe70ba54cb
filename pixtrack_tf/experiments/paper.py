"""The paper's numbers (Tables 2 and 3 of "Pixel-wise object tracking"), typed in by hand and
labelled as the paper's. They are the only hand-typed numbers in this project's results."""

SOURCE = "Song, Li, Wang, 'Pixel-wise object tracking', VOT2016, 10-fold cross-validation"
LENGTHS = (20, 40, 80, 160)

TABLE2 = {  # threshold 0.4; ROIs close to the ground-truth location
    ("ConvLSTM", 0.4): (0.4690, 0.4405, 0.3962, 0.3342),
    ("FCN", 0.4): (0.3785, 0.3582, 0.3157, 0.2304),
}

TABLE3 = {
    ("2-stage ConvLSTM", 0.4): (0.3992, 0.3606, 0.3201, 0.2564),
    ("1-stage ConvLSTM", 0.4): (0.380, 0.34601, 0.3046, 0.2419),
    ("FCN", 0.4): (0.2275, 0.2058, 0.1678, 0.1437),
    ("2-stage ConvLSTM", 0.7): (0.2485, 0.2302, 0.202, 0.1854),
    ("1-stage ConvLSTM", 0.7): (0.2080, 0.1926, 0.1679, 0.1518),
    ("FCN", 0.7): (0.1030, 0.093, 0.0711, 0.058),
}

# Published DAVIS 2016 val J means (for results/davis2016 only)
DAVIS2016_VAL_J = {"SiamMask": 0.717, "MaskTrack": 0.797, "OSVOS (online fine-tuning)": 0.798}


def rows(table: int) -> list[dict]:
    t = TABLE2 if table == 2 else TABLE3
    return [
        {"method": m, "threshold": thr, "length": L, "iou": v, "source": "paper"}
        for (m, thr), vals in t.items()
        for L, v in zip(LENGTHS, vals)
    ]
