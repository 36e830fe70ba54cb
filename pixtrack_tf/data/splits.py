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
