"""The package's layers stay one-way: the import-linter contract in pyproject.toml holds and names every layer."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10, where pytest itself depends on tomli
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "nasnet"

# Highest first, as import-linter lists them; "|" joins siblings that must not import each other.
EXPECTED_LAYERS = [
    {"nasnet.cli"},
    {"nasnet.report"},
    {"nasnet.search"},
    {"nasnet.execution"},
    {"nasnet.evaluate"},
    {"nasnet.train"},
    {"nasnet.nn", "nasnet.store"},
    {"nasnet.space", "nasnet.data"},
    {"nasnet.registry", "nasnet.validation"},
    {"nasnet.errors", "nasnet.fileio"},
]


def layers_contract() -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert config["root_package"] == "nasnet"
    contracts = [c for c in config["contracts"] if c["type"] == "layers"]
    assert len(contracts) == 1, "one layers contract, so that there is one place to read the architecture"
    return contracts[0]


def tiers(contract: dict) -> list[set[str]]:
    for layer in contract["layers"]:
        assert ":" not in layer, f"{layer!r}: siblings in a tier must be independent ('|'), not ':'"
    return [{name.strip() for name in layer.split("|")} for layer in contract["layers"]]


def test_the_contract_names_every_layer_in_order():
    assert tiers(layers_contract()) == EXPECTED_LAYERS


def test_every_top_level_module_is_in_a_layer():
    # A new package left out of the contract would be free to import anything, and be imported by anything.
    named = set().union(*tiers(layers_contract()))
    found = {
        f"nasnet.{path.stem}"
        for path in PACKAGE.iterdir()
        if (path.is_dir() and (path / "__init__.py").is_file()) or (path.suffix == ".py" and path.stem != "__init__")
    }
    assert found - {"nasnet.__main__"} == named


def test_lint_imports_passes():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    if not lint_imports.is_file():
        pytest.fail(f"{lint_imports} not found: install the test extra (pip install -e '.[test]')")
    completed = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    assert "1 kept, 0 broken" in output, output[-4000:]


def test_the_strategy_registry_does_not_import_its_plugins():
    # The built-in strategies import the registry to register themselves; the reverse would be a cycle.
    tree = ast.parse((PACKAGE / "search" / "strategy.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
    plugins = {f"nasnet.search.{name}" for name in ("rl", "evolution", "random_search")}
    assert not imported & plugins


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            ["-c", "from nasnet.search.strategy import list_strategies; print(list_strategies())"],
            "['evolution', 'random', 'rl']",
        ),
        (["-m", "nasnet", "search", "--help"], "--strategy {evolution,random,rl}"),
    ],
    ids=["registry-module", "cli"],
)
def test_every_way_to_the_registry_finds_the_builtin_strategies(command, expected):
    # A fresh interpreter: in the test session some other test has imported every strategy already.
    completed = subprocess.run([sys.executable, *command], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert expected in completed.stdout, completed.stdout
