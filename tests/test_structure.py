"""Code shape: no function or method in the runtime package or the clients spans more than 80 lines.

A long function is split into named steps; this test names each one that is too long, with its file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import stenod
import stenod_clients

MAX_LINES = 80
PACKAGES = (Path(stenod.__file__).parent, Path(stenod_clients.__file__).parent)

Function = ast.FunctionDef | ast.AsyncFunctionDef


def _functions(tree: ast.AST, prefix: str = "") -> list[tuple[str, Function]]:
    """Every function and method in ``tree``, nested ones too, with a dotted name (``Class.method``)."""
    found: list[tuple[str, Function]] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            name = f"{prefix}{node.name}"
            found.append((name, node))
            found += _functions(node, f"{name}.")
        elif isinstance(node, ast.ClassDef):
            found += _functions(node, f"{prefix}{node.name}.")
        else:
            found += _functions(node, prefix)
    return found


def long_functions(root: Path, limit: int = MAX_LINES) -> list[str]:
    """``path:line name (N lines)`` for each function under the package ``root`` longer than ``limit`` lines;
    paths start at the source root's parent (``daemon/stenod/...``)."""
    out = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name, node in _functions(tree):
            assert node.end_lineno is not None
            lines = node.end_lineno - node.lineno + 1
            if lines > limit:
                out.append(f"{path.relative_to(root.parent.parent)}:{node.lineno} {name} ({lines} lines)")
    return out


def test_no_function_is_longer_than_80_lines() -> None:
    offenders = [entry for root in PACKAGES for entry in long_functions(root)]
    assert not offenders, f"functions over {MAX_LINES} lines (split them into named steps):\n" + "\n".join(offenders)


def test_the_check_sees_a_long_function(tmp_path: Path) -> None:
    package = tmp_path / "src" / "pkg"
    package.mkdir(parents=True)
    body = "\n".join(f"        x{i} = {i}" for i in range(MAX_LINES))
    (package / "mod.py").write_text(f"class A:\n    async def long(self):\n{body}\n\n    def short(self):\n"
                                    f"        def inner():\n            pass\n")
    assert long_functions(package) == [f"src/pkg/mod.py:2 A.long ({MAX_LINES + 1} lines)"]


def test_the_architecture_page_names_every_runtime_module() -> None:
    page = (Path(__file__).resolve().parents[1] / "docs" / "architecture.md").read_text(encoding="utf-8")
    root = PACKAGES[0]
    modules = [p.relative_to(root) for p in sorted(root.rglob("*.py")) if p.name not in ("__init__.py", "__main__.py")]
    missing = [str(m) for m in modules if f"**`{m.name}`**" not in page and f"**`{m}`**" not in page]
    assert not missing, f"docs/architecture.md does not name: {', '.join(missing)}"
