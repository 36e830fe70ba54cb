"""Eq. 3 IoU, ROC/AUC and the DAVIS J and F measures against hand-computed cases."""

import numpy as np

from pixtrack_tf.evaluation.metrics import RocAccumulator, boundary_f, davis_statistics, iou, seg2bmap, thresholded_iou


def test_iou_perfect_empty_and_by_hand():
    gt = np.zeros((10, 10), bool)
    gt[2:6, 2:6] = True  # 16 px
    assert iou(gt, gt) == 1.0
    assert iou(np.zeros_like(gt), gt) == 0.0  # an empty tracker scores 0
    assert iou(np.zeros_like(gt), np.zeros_like(gt)) == 1.0  # both empty: 1 (DAVIS)
    pred = np.zeros_like(gt)
    pred[4:8, 2:6] = True  # overlap 8, union 24
    assert abs(iou(pred, gt) - 8 / 24) < 1e-12
    prob = gt * 0.5
    assert thresholded_iou(prob, gt, 0.4) == 1.0 and thresholded_iou(prob, gt, 0.7) == 0.0


def test_roc_auc():
    rng = np.random.default_rng(0)
    gt = rng.uniform(size=(50, 50)) > 0.5
    perfect, rand = RocAccumulator(), RocAccumulator()
    perfect.add(gt.astype(float), gt)
    rand.add(rng.uniform(size=gt.shape), gt)
    assert abs(perfect.auc() - 1.0) < 1e-9
    assert abs(rand.auc() - 0.5) < 0.03
    fpr, tpr = perfect.curve()
    assert fpr[0] == 0 and tpr[0] == 0 and fpr[-1] == 1 and tpr[-1] == 1


def test_boundary_f_by_hand():
    gt = np.zeros((100, 100), bool)
    gt[20:60, 20:60] = True
    assert boundary_f(gt, gt) == 1.0
    assert boundary_f(np.zeros_like(gt), gt) == 0.0
    assert boundary_f(np.zeros_like(gt), np.zeros_like(gt)) == 1.0
    # tolerance ceil(0.008 * diag(100, 100)) = ceil(1.13) = 2 px: a 2 px shift is still perfect ...
    shifted = np.roll(gt, 2, axis=1)
    assert boundary_f(shifted, gt) == 1.0
    # ... a 10 px shift is not: only the horizontal edges (shifted along themselves) partly match
    far = np.roll(gt, 10, axis=1)
    b_gt = seg2bmap(gt)
    assert b_gt.sum() > 0 and 0.3 < boundary_f(far, gt) < 0.9
    # an explicit tolerance in pixels
    assert boundary_f(far, gt, bound_th=10) == 1.0


def test_seg2bmap_square():
    m = np.zeros((6, 6), bool)
    m[1:4, 1:4] = True
    b = seg2bmap(m)
    assert b.sum() > 0 and not b[2, 2]  # interior is not boundary


def test_davis_statistics_by_hand():
    x = [1.0, 1.0, 0.8, 0.6, 0.4, 0.4, 0.2, 0.2]
    s = davis_statistics(x)
    assert abs(s["mean"] - np.mean(x)) < 1e-12
    assert abs(s["recall"] - 4 / 8) < 1e-12
    # quarters (DAVIS toolkit's overlapping bins): [1, 1, .8] ... [.2, .2]
    ids = np.round(np.linspace(1, 8, 5) + 1e-10).astype(int) - 1
    first, last = np.mean(x[ids[0] : ids[1] + 1]), np.mean(x[ids[3] : ids[4] + 1])
    assert abs(s["decay"] - (first - last)) < 1e-12 and s["decay"] > 0


def _table_doc(iou_a, j, commit="abc"):
    rows = [
        {"method": "ConvLSTM", "threshold": 0.4, "length": 20, "iou": iou_a, "clips": 3, "source": "ours"},
        {"method": "ConvLSTM", "threshold": 0.4, "length": 20, "iou": 0.469, "clips": 0, "source": "paper"},
    ]
    davis = [
        {
            "method": "ConvLSTM",
            "J_mean": j,
            "F_mean": j / 2,
            "per_sequence": {"a": {"J": j, "F": 0}, "b": {"J": j + 0.1, "F": 0}},
        }
    ]
    return {
        "rows": rows,
        "auc": {"ConvLSTM": 0.9},
        "davis": davis,
        "config": {"name": "cpu"},
        "provenance": {"commit": commit, "time_utc": "t", "command": "reproduce.py --table 2"},
    }


def test_compare_results_side_by_side(tmp_path, capsys):
    import json

    from pixtrack_tf.cli import compare

    (tmp_path / "a.json").write_text(json.dumps(_table_doc(0.30, 0.50)))
    (tmp_path / "b.json").write_text(json.dumps(_table_doc(0.25, 0.47)))
    out = tmp_path / "cmp.md"
    assert (
        compare.main(
            [
                "--result",
                f"A={tmp_path / 'a.json'}",
                "--result",
                f"B={tmp_path / 'b.json'}",
                "--reference",
                "A",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    doc = json.loads(out.with_suffix(".json").read_text())
    b = [r for r in doc["rows"] if r["label"] == "B"][0]
    assert abs(b["delta_iou"]["0.4@20"] + 0.05) < 1e-9 and abs(b["delta_J_mean"] + 0.03) < 1e-9
    assert abs(b["max_abs_delta_J_sequence"] - 0.03) < 1e-9
    md = out.read_text()
    assert "| A | ConvLSTM | 0.300 |" in md and "J mean -0.0300" in md and "0.469" not in md  # paper rows are not ours
    # a claim about two results, computed: A (0.30) beats B (0.25) at its one cell, not the reverse
    args = ["--result", f"A={tmp_path / 'a.json'}", "--result", f"B={tmp_path / 'b.json'}", "--out", str(out)]
    assert compare.main(args + ["--claim", "the change helps: A > B", "--claim", "B > A"]) == 0
    doc = json.loads(out.with_suffix(".json").read_text())
    (ab, ab_j, ba, ba_j) = doc["claims"]
    assert ab["holds"] and ab["claim"] == "the change helps" and abs(ab["mean_margin"] - 0.05) < 1e-9
    assert not ba["holds"] and ba["claim"] == "B beats A" and ba["cells_failing"] == 1
    assert "the change helps | **holds** | +0.0500" in out.read_text()
    # and on DAVIS J over whole sequences (0.50 against 0.47), a claim of its own
    assert ab_j["holds"] and ab_j["claim"] == "the change helps (DAVIS J mean, whole sequences)"
    assert abs(ab_j["mean_margin"] - 0.03) < 1e-9 and not ba_j["holds"]
    # a result of whole sequences only (reproduce --clips 0 --davis-measures): its J / F rows and claim
    for name, j in (("c", 0.40), ("d", 0.45)):
        doc = _table_doc(0.0, j)
        doc["rows"], doc["auc"] = [], {}
        (tmp_path / f"{name}.json").write_text(json.dumps(doc))
    cd_args = ["--result", f"C={tmp_path / 'c.json'}", "--result", f"D={tmp_path / 'd.json'}", "--reference", "C"]
    assert compare.main(cd_args + ["--claim", "C > D", "--out", str(out)]) == 0
    doc = json.loads(out.with_suffix(".json").read_text())
    d = [r for r in doc["rows"] if r["label"] == "D"][0]
    assert abs(d["delta_J_mean"] - 0.05) < 1e-9 and abs(d["delta_F_mean"] - 0.025) < 1e-9
    (cd,) = doc["claims"]
    assert not cd["holds"] and abs(cd["mean_margin"] + 0.05) < 1e-9
    assert "| D | ConvLSTM | - | 0.450 | 0.225 |" in out.read_text()
    # seeds: a side naming several results decides by their spread (RULE.md's addendum)
    for name, cell, j in (("a2", 0.28, 0.49), ("a3", 0.20, 0.44)):
        (tmp_path / f"{name}.json").write_text(json.dumps(_table_doc(cell, j)))
    seeded = args + ["--result", f"A2={tmp_path / 'a2.json'}", "--result", f"A3={tmp_path / 'a3.json'}"]
    claims = ["--claim", "seeds: A|A2 > B", "--claim", "A|A3 > B", "--claim", "B > A|A2"]
    assert compare.main(seeded + claims) == 0
    doc = json.loads(out.with_suffix(".json").read_text())
    held, held_j, split, split_j, lost, lost_j = doc["claims"]
    assert held["holds"] is True and abs(held["seed_spread"] - 0.02) < 1e-9  # margins 0.05, 0.03 > spread 0.02
    assert held_j["holds"] is True and abs(held_j["seed_spread"] - 0.01) < 1e-9  # J margins 0.03, 0.02 > 0.01
    assert split["holds"] is None and split_j["holds"] is None  # margins of both signs: not settled
    assert lost["holds"] is False and lost_j["holds"] is False and lost["cells_failing"] == 2
    md = out.read_text()
    assert "A|A3 beats B | **not settled by these seeds** |" in md and "seed spread 0.1000" in md
    assert "seeds | **holds** | +0.0400 (A > B: +0.0500, A2 > B: +0.0300; seed spread 0.0200)" in md
    assert compare.main(args + ["--claim", "A > Z"]) == 2 and "no result labelled 'Z'" in capsys.readouterr().err
    assert compare.main(args + ["--claim", "A|Z > B"]) == 2 and "no result labelled 'Z'" in capsys.readouterr().err
    assert compare.main(args + ["--claim", "A is better"]) == 2
    (tmp_path / "bad.json").write_text("{}")
    assert compare.main(["--result", f"X={tmp_path / 'bad.json'}"]) == 2
    assert "bad.json" in capsys.readouterr().err
    assert compare.main(["--result", f"X={tmp_path / 'missing.json'}"]) == 2
    assert compare.main(["--result", "nolabel"]) == 2
    assert compare.main(["--result", f"A={tmp_path / 'a.json'}", "--reference", "Z"]) == 2


def test_roi_measures_see_a_constant_box():
    from pixtrack_tf.evaluation.metrics import roi_measures

    gts, follow, constant = [], [], []
    for t in range(10):
        g = np.zeros((50, 100), bool)
        g[20:30, 5 + 5 * t : 15 + 5 * t] = True
        gts.append(g)
        follow.append([5 * t, 15, 20 + 5 * t, 35])  # centre on the object
        constant.append([0, 15, 20, 35])
    f, c = roi_measures(follow, gts), roi_measures(constant, gts)
    assert f["inside"] == [1.0] * 10 and abs(f["motion"] - 1.0) < 1e-9 and max(f["centre_error"]) < 1e-9
    assert c["motion"] == 0.0 and c["inside"][0] == 1.0 and c["inside"][-1] == 0.0
