"""Regenerate the committed notebooks with their outputs: ``python notebooks/execute.py [NAME ...]``.

For each notebook (default: all): write the ``.ipynb`` from its py:percent twin (jupytext; the
``.py`` is the source of truth), execute it in place with the outputs kept (nbclient, from the
notebooks folder, so that they read the repository's ``results/`` and the bundled models), and
check it stays under 3 MB. Run it after the results it reads change.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
NOTEBOOKS = ["01_reproduce_table2", "02_reproduce_table3", "03_track_your_video", "04_davis2016"]
MAX_BYTES = 3 * 2**20


def execute(name: str) -> Path:
    nb = jupytext.read(HERE / f"{name}.py")
    nb.metadata.setdefault("kernelspec", {"display_name": "Python 3", "language": "python", "name": "python3"})
    t = time.perf_counter()
    NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
    path = HERE / f"{name}.ipynb"
    nbformat.write(nb, path)
    size = path.stat().st_size
    print(f"{path.name}: executed in {time.perf_counter() - t:.0f} s, {size / 2**20:.2f} MB")
    if size > MAX_BYTES:
        raise SystemExit(f"{path.name} is {size / 2**20:.1f} MB, over the 3 MB limit: show fewer or smaller figures")
    return path


if __name__ == "__main__":
    for n in sys.argv[1:] or NOTEBOOKS:
        execute(n)
