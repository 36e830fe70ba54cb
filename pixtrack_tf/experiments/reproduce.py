"""``reproduce``'s library part: what to reproduce (:class:`Request`, :func:`make_request`) and the
run of one table (:func:`reproduce_table`) as four steps, each callable on its own
(:mod:`pixtrack_tf.experiments.table_steps`): train the folds (Sec. 5.1's iterative procedure + the
FCN baseline, or reuse finished runs), track test clips of each length with each method (raw
results), evaluate them, and write ``table<N>.md`` / ``.json`` with the paper's numbers beside ours,
whether its claims hold, provenance, and figures.

Table 2 (Sec. 5.3): local models on ROIs that follow the ground truth at t - 5 (ConvLSTM vs the
FCN fine-tuned on the first frame). Table 3: 2-stage (Algorithm 1) vs 1-stage (Eq. 5) vs FCN.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# reference trackers (no training; not the paper's methods) in every table, beside the paper's methods
REFERENCES = {
    "First mask (reference)": "ref-first-mask",
    "Optical flow (reference)": "ref-optical-flow",
    "Feature affinity (reference)": "ref-affinity",
}
METHODS = {
    2: {"ConvLSTM": "t2-convlstm-gtroi", "FCN": "t2-fcn-gtroi", **REFERENCES},
    3: {"2-stage ConvLSTM": "t3-2stage", "1-stage ConvLSTM": "t3-1stage", "FCN": "t3-fcn", **REFERENCES},
}
# trackers beyond the paper (trained, not its methods): in a table when asked for by --methods
BEYOND = {"pixtrack+ (not the paper)": "plus"}
METHODS_BY_NAME = {name: key for table in METHODS.values() for name, key in table.items()} | BEYOND
RETRAIN_TIME = "60-80 minutes (the feature store at ROI 128, Sec. 5.1 steps 1-5 and the FCN, then the evaluation)"


class ReproduceError(ValueError):
    """A request ``reproduce`` cannot serve (an unknown method, a run without the models asked for)."""


@dataclass
class Request:
    """What to reproduce: a table, the data and config, and where the models come from.

    ``run``: a finished training run to evaluate instead of training (one fold); ``fcn``: with
    ``run``, another run folder whose ``fcn/`` holds the FCN baseline; ``methods``: a subset of the
    table's methods (None: all); ``overrides``: the ``--set`` values (applied to ``run``'s config too).
    """

    table: int
    cfg: object
    folds: list
    desc: dict
    out: Path
    run: str | None = None
    fcn: str | None = None
    clips: int | None = None
    methods: list | None = None
    davis_measures: bool = False
    force: bool = False
    progress: bool = True
    overrides: list = field(default_factory=list)

    @property
    def method_keys(self) -> dict:
        """{row name: raw-results folder name} of the methods asked for."""
        return select_methods(self.table, self.methods)

    @property
    def saved(self) -> bool:
        """``run`` is an exported 2-stage tracker (SavedModel), not a training run folder."""
        return bool(self.run) and (Path(self.run) / "saved_model.pb").exists()

    @property
    def clips_per_sequence(self) -> int:
        return self.cfg.eval.clips_per_sequence if self.clips is None else self.clips  # 0: DAVIS measures only


def select_methods(table: int, wanted=None) -> dict:
    """{row name: raw-results folder name} of the table's methods, or of the subset ``wanted``."""
    methods = dict(METHODS[table])
    if not wanted:
        return methods
    allowed = methods | (BEYOND if table == 3 else {})
    unknown = [m for m in wanted if m not in allowed]
    if unknown:
        raise ReproduceError(f"unknown method(s) {unknown}; Table {table} has {list(allowed)}")
    return {m: allowed[m] for m in wanted}


def uses_bundled(
    dataset="embedded", run=None, retrain=False, quick=False, force=False, config=None, overrides=(), folds=1
):
    """The default run evaluates the bundled embedded models: no run, retrain, quick, config, overrides,
    more than one fold or force, and the embedded dataset."""
    return dataset == "embedded" and not (run or retrain or quick or force or config or overrides) and folds == 1


def make_request(
    table: int = 3,
    dataset: str = "embedded",
    root=None,
    config=None,
    overrides=(),
    folds: int = 1,
    quick: bool = False,
    out=None,
    run=None,
    retrain: bool = False,
    test_split: str = "val",
    say=lambda msg: print(msg, file=sys.stderr),
    **options,
) -> Request:
    """The :class:`Request` of ``reproduce``'s options (``options``: ``fcn``, ``clips``, ``methods``,
    ``davis_measures``, ``force``, ``progress``): the bundled embedded models when nothing asks for
    training, else the config named (``reproduce``; ``tiny`` with ``quick``; a run's own config
    with ``run``) and the folds of the dataset."""
    from pixtrack_tf.config import load_config
    from pixtrack_tf.data.splits import halves_seed, train_test_splits

    default = "tiny" if quick else "reproduce"
    if uses_bundled(dataset, run, retrain, quick, options.get("force"), config, overrides, folds):
        from pixtrack_tf.runs import bundled_path, describe

        run = str(bundled_path("embedded"))
        say(f"Models: {describe('embedded')}. Pass --retrain to train them here instead.")
    elif dataset == "embedded" and run is None and not quick:
        say(f"Training the models first: {RETRAIN_TIME} on 2 CPU cores.")
    if run and config is None:  # evaluate a finished run with the config it was trained with
        default = Path(run) / "config.yaml"
        if (Path(run) / "saved_model.pb").exists():  # an exported tracker: the config it was exported with
            default = Path(run) / "pixtrack_config.yaml"
    cfg = load_config(config or default, list(overrides))
    n_seq, n_frames = (10, 24) if quick else (60, 100)
    fold_list, desc = train_test_splits(
        dataset, root, None, range(folds), cfg.seed, n_seq, n_frames, test_split, split_seed=halves_seed(cfg)
    )
    out = Path(out or f"out/reproduce-{dataset}{'-quick' if quick else ''}")
    return Request(
        table=table, cfg=cfg, folds=fold_list, desc=desc, out=out, run=run, overrides=list(overrides), **options
    )


def reproduce_table(req: Request) -> str:
    """Train (or reuse), track, evaluate and write Table ``req.table``; returns its Markdown.
    Raises DataError, ConfigError, RunDirError, FileNotFoundError, ReproduceError, TrainingDiverged."""
    from pixtrack_tf.experiments import table_steps

    t_start = time.perf_counter()
    req.out.mkdir(parents=True, exist_ok=True)
    if req.desc["dataset"] == "embedded":
        print(
            "Data: the embedded synthetic benchmark (NOT VOT2016): numbers are not comparable with the paper's.",
            file=sys.stderr,
        )
    if req.saved and set(req.method_keys.values()) - set(REFERENCES.values()) - {"t3-2stage"}:
        raise ReproduceError(f"{req.run} is a SavedModel: it gives the 2-stage ConvLSTM row of Table 3 only")
    timings = {}
    run_dirs = table_steps.train_folds(req, timings)
    table_steps.track_methods(req, run_dirs, timings)
    evaluation = table_steps.evaluate_methods(req)
    return table_steps.write_report(req, evaluation, timings, time.perf_counter() - t_start)


def table_results(table: int, shipped: Path, out: Path, smoke=False, retrain=False) -> tuple[Path, dict]:
    """For the notebooks: (folder, table JSON) of Table ``table``: the shipped results in ``shipped``
    when they are there; else (or with ``retrain`` / ``smoke``) reproduce's output in ``out``: the
    bundled models evaluated, trained first with ``retrain``, or the smallest run with ``smoke``."""
    if smoke or retrain or not (shipped / f"table{table}.json").exists():
        shipped = out
        reproduce_table(make_request(table, out=out, quick=smoke, retrain=retrain and not smoke, progress=False))
    return shipped, json.loads((shipped / f"table{table}.json").read_text())
