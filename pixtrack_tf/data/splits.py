"""Splits: the paper's 10 folds (Sec. 3.3) and a dataset's own split.

"we use 10 fold-cross validation and randomly distribute 60 sequences into 10 data fold. Each fold
contains 54 videos in the training set and the other 6 videos in the testing set."
"""

from __future__ import annotations

import numpy as np


def ten_folds(names, seed: int = 0, k: int = 10) -> list[tuple[list[str], list[str]]]:
    """Randomly distribute the sequences into k folds; fold i tests on its share, trains on the rest.

    With 60 sequences: 54 train / 6 test per fold, and every sequence is tested exactly once.
    """
    names = list(names)
    if len(names) < k:
        raise ValueError(f"{len(names)} sequences cannot be split into {k} folds")
    order = np.random.default_rng([seed, 10]).permutation(len(names))
    chunks = np.array_split(order, k)
    folds = []
    for c in chunks:
        test = sorted(names[i] for i in c)
        test_set = set(test)
        folds.append(([n for n in names if n not in test_set], test))
    return folds


def halves(names, seed: int = 0) -> tuple[list[str], list[str]]:
    """Sec. 5.1 step 1: "Evenly seperate video sequences of each training set into two subsets"."""
    names = list(names)
    order = np.random.default_rng([seed, 2]).permutation(len(names))
    a = sorted(names[i] for i in order[: len(names) // 2])
    a_set = set(a)
    return a, [n for n in names if n not in a_set]


def halves_seed(cfg) -> int:
    """The seed of a config's halves: ``data.split_seed``, or the run's ``seed`` when it is -1 (the default),
    so that a seed check can keep the halves (``--set seed=1 --set data.split_seed=0``)."""
    return cfg.data.split_seed if cfg.data.split_seed >= 0 else cfg.seed


TEST_SPLITS = ("val", "train-a", "train-b")  # DAVIS 2016: what reproduce tests on


def _other_half(name: str) -> str:
    return "train-b" if name == "train-a" else "train-a"


def _halve(train, test_split: str, seed: int):
    """(the other half, the half ``test_split``) of the training sequences ``train``, in Sec. 5.1's
    halves (:func:`halves` on the sorted names, as step 1 splits them)."""
    by = {s.name: s for s in train}
    half = dict(zip(("train-a", "train-b"), halves(sorted(by), seed)))
    return [by[n] for n in half[_other_half(test_split)]], [by[n] for n in half[test_split]]


def train_test_splits(
    dataset: str,
    root=None,
    split=None,
    folds=(0,),
    seed: int = 0,
    num_sequences: int = 60,
    n_frames: int = 100,
    test_split: str = "val",
    split_seed: int | None = None,
):
    """The sequences to train and to test on, the one rule for ``train`` and ``reproduce``.

    Returns ``([(train sequences, test sequences), ...], description)``, one pair per fold, and a
    description for provenance. DAVIS 2016 has its own split: one pair, train = ``split`` (default
    ``train``), test = ``val`` (none when training on val or all). ``test_split="train-a"`` or
    ``"train-b"`` tests instead on one of Sec. 5.1's halves of the train split (:func:`halves` with
    ``seed``, the halves of step 1) and trains on the other: a held-out check that never reads val,
    for choosing settings on the train split only; ``split="train-a"`` (``"train-b"``) is the same
    pair named by the half trained on (``train --split train-a`` trains exactly step 1a's data, e.g.
    for an ablation beside ``step1_local_a``). The other datasets use the paper's 10 folds
    (Sec. 3.3): one pair per fold index in ``folds``; ``split="all"`` (or fewer than 10 sequences)
    trains on every sequence and tests on none. The halves work there too, inside each fold's
    training split (the halves of that fold's Sec. 5.1 step 1; its test sequences are never read).
    ``split_seed``: the halves' seed when it is not ``seed`` (:func:`halves_seed`).
    """
    from pixtrack_tf.data import DataError, load_dataset

    if test_split not in TEST_SPLITS:
        raise DataError(f"test split must be one of {', '.join(TEST_SPLITS)}, got {test_split!r}")
    if split in ("train-a", "train-b"):
        if test_split not in ("val", _other_half(split)):
            raise DataError(f"split {split} and test split {test_split} overlap (they are the same half)")
        split, test_split = None, _other_half(split)
    desc = {"dataset": dataset, "root": None if root is None else str(root)}
    hseed = seed if split_seed is None else split_seed
    if dataset == "davis2016":
        split = split or "train"
        train = load_dataset(dataset, root, split)
        if test_split != "val":
            train, test = _halve(train, test_split, hseed)
            desc.update(split=_other_half(test_split), test_split=test_split, halves_seed=hseed)
        else:
            test = load_dataset(dataset, root, "val") if split == "train" else []
            desc.update(split=split)
        desc.update(train=[s.name for s in train], test=[s.name for s in test])
        return [(train, test)], desc
    seqs = load_dataset(dataset, root, seed=seed, num_sequences=num_sequences, n_frames=n_frames)
    if dataset == "embedded":
        desc.update(
            embedded_seed=seed,
            embedded_sequences=num_sequences,
            embedded_frames=n_frames,
            note="embedded synthetic benchmark, NOT VOT2016: not comparable with the paper's numbers",
        )
    if split == "all" or len(seqs) < 10:
        if test_split != "val":
            raise DataError(f"--test-split {test_split} needs the 10 folds (at least 10 sequences, not --split all)")
        desc.update(split="all", train=[s.name for s in seqs], test=[])
        return [(seqs, [])], desc
    by = {s.name: s for s in seqs}
    all_folds = ten_folds(list(by), seed=seed)
    pairs = [([by[n] for n in all_folds[k][0]], [by[n] for n in all_folds[k][1]]) for k in folds]
    if test_split != "val":  # the fold's training split only: half trained on, half tested on
        pairs = [_halve(train, test_split, hseed) for train, _ in pairs]
        desc.update(split=_other_half(test_split), test_split=test_split, halves_seed=hseed)
    desc.update(folds=list(folds), sequences=len(seqs))
    if len(pairs) == 1:
        desc.update(train=[s.name for s in pairs[0][0]], test=[s.name for s in pairs[0][1]])
    return pairs, desc
