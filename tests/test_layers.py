"""The layers hold: apache/ and seeder/ never import each other; both build on the shared layer
(torrentweb: config, catalogue, page, naming, resources, errors), which imports neither; and
what runs inside Apache loads nothing beyond the standard library and that layer. Below the
tests: the product never imports the harness (harness/, the origin starter of tests, demo and
benchmarks), and nothing outside tests/ imports the tests' own helpers (tests/support)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SIDES = {"apache": "torrentweb.apache", "seeder": "torrentweb.seeder"}
SHARED = sorted(p for p in (ROOT / "core").rglob("*.py") if p.name != "cli.py")   # cli: the top
PRODUCT = [p for top in ("core", "apache", "seeder") for p in sorted((ROOT / top).rglob("*.py"))]


def imported(path: Path) -> set[str]:
    """Absolute names a module imports (relative imports resolved against its package)."""
    top, *sub = path.relative_to(ROOT).parent.parts
    package = ".".join([{"core": "torrentweb", "harness": "harness"}.get(top, f"torrentweb.{top}"), *sub])
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] +
                                ([base] if base else []))
            names.update([base] + [f"{base}.{a.name}" for a in node.names])
    return names


def offending(paths, forbidden) -> list[str]:
    return sorted(f"{p.relative_to(ROOT)}: {name}" for p in paths for name in imported(p)
                  if any(name == f or name.startswith(f + ".") for f in forbidden))


@pytest.mark.parametrize("side, other", [("apache", "seeder"), ("seeder", "apache")])
def test_the_two_sides_never_import_each_other(side, other):
    files = sorted((ROOT / side).rglob("*.py")) + sorted((ROOT / side).glob("*.wsgi"))
    assert files
    assert offending(files, [SIDES[other]]) == []


def test_the_shared_layer_imports_neither_side():
    assert SHARED
    assert offending(SHARED, SIDES.values()) == []


def test_the_check_above_can_fail():
    """An import of the other side is seen, relative or absolute."""
    assert offending([ROOT / "seeder" / "bundles.py"], ["torrentweb.page"]) != []
    assert "torrentweb.seeder.builder" in imported(ROOT / "seeder" / "publisher.py")
    assert "torrentweb.page.swap" in imported(ROOT / "core" / "page" / "render.py")
    assert offending([ROOT / "harness" / "daemon.py"], ["harness"]) != []       # relative, in harness
    assert offending([ROOT / "tests" / "support" / "loadersite.py"], ["harness"]) != []


def test_the_product_never_imports_the_harness_or_the_tests():
    assert PRODUCT
    assert offending(PRODUCT, ["harness", "support", "tests"]) == []


def test_demo_benchmarks_and_harness_never_reach_into_the_tests():
    """They share the harness with the tests' fixtures; tests/support is the tests' own."""
    files = [p for top in ("demo", "bench", "harness") for p in sorted((ROOT / top).rglob("*.py"))
             if "node_modules" not in p.parts]
    assert len(files) > 10
    assert offending(files, ["support", "tests"]) == []
    assert [f"{p.relative_to(ROOT)}" for p in files if '"tests"' in p.read_text()] == []    # no sys.path


def test_what_runs_in_apache_loads_only_the_standard_library_and_the_shared_layer():
    probe = ("import sys; before = set(sys.modules); import torrentweb.apache.handler; "
             "print('\\n'.join(sorted(set(sys.modules) - before)))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True).stdout.split()
    foreign = [m for m in loaded if m.split(".")[0] not in sys.stdlib_module_names
               and not m.startswith(("torrentweb.apache", "torrentweb.page", "torrentweb.catalogue",
                                     "torrentweb.errors", "torrentweb.naming", "torrentweb.resources"))
               and m != "torrentweb"]
    assert "torrentweb.apache.handler" in loaded and foreign == []
