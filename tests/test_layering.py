"""Imports only go down: layers -> models -> data / tracking -> training / evaluation -> commands
(the order is ``pixtrack_tf.LAYERS``). Imports under ``if __name__ == "__main__":`` (a library
module handing ``python -m`` over to its command) are not dependencies of the library."""

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


def _is_main_guard(node) -> bool:
    return isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)


def imports(tree):
    """(line, imported module) of every pixtrack_tf import outside ``__main__`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if _is_main_guard(child):
                continue
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
    (fake / "models" / "ok.py").write_text('if __name__ == "__main__":\n    from pixtrack_tf.cli.train import main\n')
    monkeypatch.setattr(__import__(__name__), "PKG", fake)
    assert violations() == ["pixtrack_tf/models/bad.py:1 imports pixtrack_tf.training.tasks (a higher layer)"]
