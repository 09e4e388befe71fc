"""The package's shape holds: layers only import downward (import-linter), no cycles, at most
8 floors, small modules and functions. Imports inside functions count like any other."""

from __future__ import annotations

import os
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


def test_the_layer_contract_is_kept() -> None:
    res = _lint(ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 kept, 0 broken" in res.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(PACKAGE, tmp_path / "radiocast",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    views = tmp_path / "radiocast" / "db" / "views.py"
    views.write_text(views.read_text(encoding="utf-8")
                     + "\n\ndef _up() -> object:\n    from radiocast.status import Problem\n\n"
                       "    return Problem\n", encoding="utf-8")
    res = _lint(tmp_path)
    assert res.returncode != 0
    assert "radiocast.db.views is not allowed to import radiocast.status" in res.stdout


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
    errors = pkg / "errors.py"
    errors.write_text(errors.read_text(encoding="utf-8")
                      + "\n\ndef _up() -> None:\n    from radiocast import cli  # noqa\n",
                      encoding="utf-8")
    shape = measure(pkg)
    assert shape.cycles(), "errors → cli → … → errors is a cycle"


def test_every_module_has_a_layer() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    [contract] = config["tool"]["importlinter"]["contracts"]
    named = {m.strip() for layer in contract["layers"] for m in layer.replace(":", "|").split("|")}
    packages = {m for m in measure().imports if (PACKAGE.parent / m.replace(".", "/")).is_dir()}
    unplaced = [m for m in measure().imports if m not in packages and not any(
        m == n or m.startswith(n + ".") for n in named)]
    assert unplaced == []
