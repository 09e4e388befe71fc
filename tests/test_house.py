"""The package's shape holds: folders are layers and import only downward (import-linter), no
cycles, at most 8 floors, small modules and functions, a short top level of folders that each
say their one job. Imports inside functions count like any other."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from .house import PACKAGE, measure

ROOT = PACKAGE.parent
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([str(LINT), "--config", str(cwd / "pyproject.toml"),
                           "--no-cache"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return list(config["tool"]["importlinter"]["contracts"])


def test_the_layer_contracts_are_kept() -> None:
    res = _lint(ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"{len(_contracts())} kept, 0 broken" in res.stdout


def _break(tmp_path: Path, module: str, statement: str) -> str:
    """lint-imports' report on a copy of the package where `module` gains `statement` inside a
    function (a lazy import counts)."""
    shutil.copytree(PACKAGE, tmp_path / "radiocast",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text(encoding="utf-8")
                    + f"\n\ndef _up() -> None:\n    {statement}  # noqa\n", encoding="utf-8")
    res = _lint(tmp_path)
    assert res.returncode != 0
    return res.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    out = _break(tmp_path, "radiocast.db.views", "from radiocast.status.problems import Problem")
    assert "radiocast.db is not allowed to import radiocast.status" in out
    assert "radiocast.db.views -> radiocast.status.problems" in out


def test_the_kernel_imports_nothing_above_it(tmp_path: Path) -> None:
    out = _break(tmp_path, "radiocast.core.months", "from radiocast.config import settings")
    assert "radiocast.core is not allowed to import radiocast.config" in out


def test_an_upward_import_inside_a_folder_breaks_its_contract(tmp_path: Path) -> None:
    out = _break(tmp_path, "radiocast.audio.meter", "from radiocast.audio import normalize")
    assert "radiocast.audio.meter is not allowed to import radiocast.audio.normalize" in out


def test_the_planner_stays_pure(tmp_path: Path) -> None:
    out = _break(tmp_path, "radiocast.airing.plan", "import sqlalchemy")
    assert "radiocast.airing.plan is not allowed to import sqlalchemy" in out


def test_no_cycles_and_at_most_eight_floors() -> None:
    shape = measure()
    assert shape.cycles() == []
    assert max(shape.floors().values()) <= 8


def test_no_module_over_400_lines_no_function_over_50() -> None:
    shape = measure()
    assert [(m, n) for m, n in shape.lines.items() if n > 400] == []
    assert [(q, n) for n, q in shape.functions if n > 50] == []


def test_the_measure_sees_a_lazy_upward_import(tmp_path: Path) -> None:
    pkg = tmp_path / "radiocast"
    shutil.copytree(PACKAGE, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    errors = pkg / "core" / "errors.py"
    errors.write_text(errors.read_text(encoding="utf-8")
                      + "\n\ndef _up() -> None:\n    from radiocast.cli import main  # noqa\n",
                      encoding="utf-8")
    shape = measure(pkg)
    assert shape.cycles(), "errors → cli → … → errors is a cycle"


def _named(contract: dict[str, object], prefix: str = "") -> set[str]:
    layers = contract["layers"]
    assert isinstance(layers, list)
    return {prefix + m.strip() for layer in layers for m in layer.replace(":", "|").split("|")}


def test_every_module_has_a_layer() -> None:
    """Every module sits in a folder layer, and every module of a folder that has inner layers
    is named in them (a new module must say where it stands)."""
    folders, *rest = _contracts()
    named = _named(folders)
    packages = {m for m in measure().imports if (PACKAGE.parent / m.replace(".", "/")).is_dir()}
    modules = [m for m in measure().imports if m not in packages]
    assert [m for m in modules if not any(m == n or m.startswith(n + ".") for n in named)] == []
    inner = [c for c in rest if "containers" in c]
    assert len(inner) >= 8
    for contract in inner:
        [container] = contract["containers"]  # type: ignore[misc]
        names = _named(contract, f"{container}.")
        assert [m for m in modules if m.startswith(container + ".") and m not in names] == []


def test_a_short_top_level_of_folders_that_say_their_job() -> None:
    top = [p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")]
    assert len(top) <= 12, top
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc, f"{init.parent.name}/ says what it owns in its __init__ docstring"
        assert len(re.findall(r"[.!?](?:\s|$)", doc)) == 1, f"{init.parent.name}: one sentence"
