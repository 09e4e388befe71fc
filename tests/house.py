"""Measures the package's shape: import floors, cycles, module and function sizes.

Used by tests/test_house.py (which asserts the limits) and runnable by hand:
`python -m tests.house` prints the figures. Every import counts, also those inside functions.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "radiocast"


@dataclass(frozen=True)
class Shape:
    imports: dict[str, set[str]]
    lines: dict[str, int]
    functions: list[tuple[int, str]]  # (length in lines, "module:qualname")

    def cycles(self) -> list[list[str]]:
        """Strongly connected components with more than one module (Tarjan)."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on: set[str] = set()
        out: list[list[str]] = []
        counter = [0]

        def visit(v: str) -> None:
            index[v] = low[v] = counter[0]
            counter[0] += 1
            stack.append(v)
            on.add(v)
            for w in sorted(self.imports.get(v, ())):
                if w not in index:
                    visit(w)
                    low[v] = min(low[v], low[w])
                elif w in on:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or v in self.imports.get(v, ()):
                    out.append(sorted(comp))

        sys.setrecursionlimit(10000)
        for v in sorted(self.imports):
            if v not in index:
                visit(v)
        return out

    def floors(self) -> dict[str, int]:
        """A module that imports nothing of the package is on floor 1; others one above the
        highest module they import."""
        memo: dict[str, int] = {}

        def floor(m: str, seen: frozenset[str]) -> int:
            if m in memo:
                return memo[m]
            deps = [d for d in self.imports.get(m, ()) if d not in seen]
            memo[m] = 1 + max((floor(d, seen | {m}) for d in deps), default=0)
            return memo[m]

        return {m: floor(m, frozenset()) for m in self.imports}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    rel = path.relative_to(package.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(mod: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = mod.split(".")
    if not is_pkg:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def measure(package: Path = PACKAGE) -> Shape:
    files = sorted(p for p in package.rglob("*.py") if "migrations" not in p.parts)
    known = {module_name(p, package) for p in files}
    imports: dict[str, set[str]] = {}
    lines: dict[str, int] = {}
    functions: list[tuple[int, str]] = []
    for path in files:
        mod = module_name(path, package)
        text = path.read_text(encoding="utf-8")
        lines[mod] = len(text.splitlines())
        tree = ast.parse(text)
        deps: set[str] = set()
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(mod, path.name == "__init__.py", node)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                           for a in node.names]
            for t in targets:
                while t and t not in known:
                    t = t.rpartition(".")[0]
                if t and t != mod:
                    deps.add(t)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                functions.append((length, f"{mod}:{node.name}"))
        imports[mod] = deps
    return Shape(imports, lines, sorted(functions, reverse=True))


def main() -> None:
    shape = measure()
    floors = shape.floors()
    print(f"modules: {len(shape.imports)}")
    print(f"import edges: {sum(len(v) for v in shape.imports.values())}")
    print(f"cycles: {len(shape.cycles())} {shape.cycles() or ''}")
    print(f"floors: {max(floors.values())}")
    for f in range(max(floors.values()), 0, -1):
        print(f"  {f}: {' '.join(sorted(m for m, v in floors.items() if v == f))}")
    big = sorted(((n, m) for m, n in shape.lines.items()), reverse=True)[:5]
    print("largest modules: " + ", ".join(f"{m} {n}" for n, m in big))
    print("longest functions: " + ", ".join(f"{q} {n}" for n, q in shape.functions[:5]))


if __name__ == "__main__":
    main()
