"""The package's shape: no import circle, no function-level import that hides one, a contract
that imports no particular mover, and a face that type checkers see through."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pilot_movers", "job_params")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _internal(name: str) -> bool:
    return name.split(".", maxsplit=1)[0] in PACKAGES


def _imports(tree: ast.Module, module: str, *, top_level: bool) -> set[str]:
    """Internal modules imported at module level (outside ``if TYPE_CHECKING``), or only inside
    functions when ``top_level`` is False."""
    found: set[str] = set()

    def visit(node: ast.AST, in_function: bool, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            function = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            guarded = type_only or (isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
            if isinstance(child, (ast.Import, ast.ImportFrom)) and not guarded and function != top_level:
                names = []
                if isinstance(child, ast.Import):
                    names = [alias.name for alias in child.names]
                elif child.module and child.level == 0:
                    names = [child.module] + [f"{child.module}.{alias.name}" for alias in child.names]
                found.update(n for n in names if _internal(n))
            visit(child, function, guarded)

    visit(tree, False, False)
    return found


def _graph(*, with_function_imports: bool) -> dict[str, set[str]]:
    trees = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            trees[_module_name(path)] = ast.parse(path.read_text(), str(path))
    graph: dict[str, set[str]] = {}
    for module, tree in trees.items():
        targets = _imports(tree, module, top_level=True)
        if with_function_imports:
            targets |= _imports(tree, module, top_level=False)
        # ``from pkg import name`` names a module only when pkg.name is one; packages' __init__
        # files are imported on the way but hold no logic here (pilot_movers' face is lazy).
        graph[module] = {t for t in targets if t in trees and t != module and t not in PACKAGES}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def walk(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                found.append([*stack[stack.index(target) :], target])
            elif target not in state:
                walk(target)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            walk(node)
    return found


def test_the_package_has_no_import_circle():
    assert _cycles(_graph(with_function_imports=False)) == []


def test_no_function_level_import_hides_a_circle():
    assert _cycles(_graph(with_function_imports=True)) == []


def test_the_transport_contract_and_the_engine_import_no_mover():
    graph = _graph(with_function_imports=True)
    movers = ("pilot_movers.local.", "pilot_movers.gridftp.", "pilot_movers.xrootd.")
    for module in ("pilot_movers.base", *[m for m in graph if m.startswith("pilot_movers.engine")]):
        assert not [t for t in graph[module] if t.startswith(movers)], module
    assert not [t for t in graph["pilot_movers.xrootd.errors"] if t.startswith("pilot_movers.local.")]


def test_job_params_stands_alone_without_the_transfer_code():
    graph = _graph(with_function_imports=True)
    allowed = {"pilot_movers.errors", "pilot_movers.values", "pilot_movers.checksums", "pilot_movers.reserved"}
    for module in [m for m in graph if m.startswith("job_params")]:
        outside = {t for t in graph[module] if not t.startswith("job_params")}
        assert outside <= allowed, (module, outside)


def test_type_checkers_see_the_package_face(tmp_path):
    """``pilot_movers.Job`` and the rest reach mypy as the real classes, not ``Any``."""
    sample = tmp_path / "face.py"
    sample.write_text(
        "import pilot_movers\n"
        "reveal_type(pilot_movers.Job)\n"
        "reveal_type(pilot_movers.Mover)\n"
        "reveal_type(pilot_movers.Copied)\n"
        "reveal_type(pilot_movers.LocalNamespace)\n"
        "reveal_type(pilot_movers.TransferClock)\n"
        "job: pilot_movers.Job = 3\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--follow-imports=silent", str(sample)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    out = done.stdout
    assert 'Revealed type is "def (params: job_params.model.JobParams' in out, out
    assert "pilot_movers.base.Mover" in out and "pilot_movers.engine.contract.Copied" in out, out
    assert "pilot_movers.local_namespace.LocalNamespace" in out, out
    assert "pilot_movers.engine.clocks.TransferClock" in out, out
    assert 'Incompatible types in assignment (expression has type "int", variable has type "Job")' in out, out


def test_the_three_distributions_are_released_together():
    from datahost_server import __version__ as server
    from pilot_movers_testkit import __version__ as testkit

    from pilot_movers.version import __version__ as library

    assert library == server == testkit


def test_the_documented_layers_hold_as_contracts():
    """docs/architecture.md's layers, the movers' independence, and what the library and the
    DataHost server may import, as import-linter contracts (.importlinter)."""
    import shutil

    program = shutil.which("lint-imports", path=os.path.dirname(sys.executable))
    assert program, "import-linter is installed with the test extra"
    done = subprocess.run([program, "--no-cache"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:]
    assert "0 broken" in done.stdout
