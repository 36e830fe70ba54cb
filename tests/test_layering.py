"""The house's plan: imports only go down (ops / layers -> models -> data / tracking -> training /
evaluation / runs -> experiments / bench -> commands; the order is ``pixtrack_tf.LAYERS``), a
``__main__`` block included; the only entry modules at the top are ``__main__.py`` and
``reproduce.py``; ``evaluation/`` holds metrics, the protocol and the evaluator alone; no module
over 400 lines and no function over 80."""

import ast
from pathlib import Path

import pixtrack_tf

PKG = Path(pixtrack_tf.__file__).parent


def layer_of(parts) -> int:
    """The layer of a module given as path parts below the package (``("models", "fcn")``)."""
    if not parts or parts[0] == "__init__":
        return 0
    for i, names in enumerate(pixtrack_tf.LAYERS):
        if parts[0] in names:
            return i
    raise AssertionError(f"pixtrack_tf.{'.'.join(parts)} is in no layer of pixtrack_tf.LAYERS")


def imports(tree):
    """(line, imported module) of every pixtrack_tf import, ``__main__`` blocks included."""
    stack = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ImportFrom) and child.module and child.module.startswith("pixtrack_tf"):
                names = (
                    [child.module] if child.module != "pixtrack_tf" else [f"pixtrack_tf.{a.name}" for a in child.names]
                )
                yield from ((child.lineno, n) for n in names)
            elif isinstance(child, ast.Import):
                yield from ((child.lineno, a.name) for a in child.names if a.name.startswith("pixtrack_tf"))
            stack.append(child)


def violations():
    found = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).with_suffix("").parts
        mine = layer_of(rel)
        for line, name in imports(ast.parse(path.read_text())):
            target = tuple(name.split(".")[1:])
            if target and target[0] == "__version__":
                continue
            if layer_of(target) > mine:
                found.append(f"pixtrack_tf/{'/'.join(rel)}.py:{line} imports {name} (a higher layer)")
    return found


def test_imports_only_go_down():
    bad = violations()
    assert not bad, "\n".join(bad)


def test_the_check_can_fail(tmp_path, monkeypatch):
    """An import from a higher layer is reported (a models module importing the training package)."""
    fake = tmp_path / "pixtrack_tf"
    (fake / "models").mkdir(parents=True)
    (fake / "models" / "bad.py").write_text("from pixtrack_tf.training.tasks import Task\n")
    (fake / "models" / "main.py").write_text('if __name__ == "__main__":\n    from pixtrack_tf.cli.train import main\n')
    (fake / "models" / "ok.py").write_text("from pixtrack_tf.layers.convlstm import ConvLSTM2D\n")
    monkeypatch.setattr(__import__(__name__), "PKG", fake)
    assert violations() == [
        "pixtrack_tf/models/bad.py:1 imports pixtrack_tf.training.tasks (a higher layer)",
        "pixtrack_tf/models/main.py:2 imports pixtrack_tf.cli.train (a higher layer)",
    ]


def test_the_rooms():
    """One way in (``python -m pixtrack_tf`` / ``.reproduce``), evaluation = metrics + protocol +
    evaluator, benchmarks in ``bench/``, run folders in ``runs.py``."""
    top = {p.name for p in PKG.glob("*.py")}
    # the two entry modules, and the library modules that sit at the package's top
    assert top - {"__init__.py"} == {
        "__main__.py",
        "reproduce.py",
        "provenance.py",
        "console.py",
        "hardware.py",
        "runs.py",
    }
    assert {p.stem for p in (PKG / "evaluation").glob("*.py")} == {"__init__", "metrics", "protocol", "evaluator"}
    timing = [p for p in PKG.rglob("*.py") if p.stem.startswith(("speed", "flops", "bench"))]
    assert (PKG / "bench").is_dir() and all(p.parent.name in ("bench", "cli") for p in timing), timing


def sizes(root=PKG, max_module=400, max_function=80):
    """Modules over ``max_module`` lines and functions over ``max_function`` lines below ``root``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        if text.count("\n") > max_module:
            found.append(f"{path.relative_to(root)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > max_function:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name}: {n} lines")
    return found


def test_no_module_over_400_lines_and_no_function_over_80():
    big = sizes()
    assert not big, "\n".join(big)


def test_the_size_check_can_fail(tmp_path):
    (tmp_path / "long.py").write_text("def f():\n" + "    x = 1\n" * 81)
    assert sizes(tmp_path) == ["long.py:1 f: 82 lines"]


def test_the_command_module_does_no_work_at_import():
    """Importing ``pixtrack_tf.cli`` (or the package) imports no TensorFlow; ``python -m pixtrack_tf``
    and ``python -m pixtrack_tf.reproduce`` are the ways in."""
    import subprocess
    import sys

    code = "import sys, pixtrack_tf.cli, pixtrack_tf.runs; print('tensorflow' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "False", r.stderr
    for argv in (["-m", "pixtrack_tf", "summary", "--help"], ["-m", "pixtrack_tf.reproduce", "--help"]):
        r = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and "usage:" in r.stdout, r.stderr
