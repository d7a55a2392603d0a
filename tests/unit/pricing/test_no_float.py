"""No float on the money path: the pricing modules are scanned for anything that makes one."""

from __future__ import annotations

import ast
import pathlib

import pytest

PRICING_DIR = pathlib.Path(__file__).parents[3] / "flexgrpc" / "pricing"
MODULES = sorted(PRICING_DIR.glob("*.py"))

#: Modules whose use brings floats (or float-like rounding) in.
FORBIDDEN_MODULES = frozenset({"math", "decimal", "fractions", "statistics", "cmath", "numpy"})
#: Builtins that make or round floats.
FORBIDDEN_CALLS = frozenset({"float", "round", "complex", "pow"})


def float_hazards(source: str) -> list[str]:
    """Every construct in ``source`` that can put a float on the money path."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", "?")
        if isinstance(node, ast.Constant) and isinstance(node.value, float | complex):
            found.append(f"line {line}: float literal {node.value!r}")
        elif isinstance(node, ast.BinOp | ast.AugAssign) and isinstance(node.op, ast.Div):
            found.append(f"line {line}: true division '/' (use // or round_half_even)")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            found.append(f"line {line}: '**' can make a float (negative exponent)")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in FORBIDDEN_CALLS:
                found.append(f"line {line}: call to {node.func.id}()")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FORBIDDEN_MODULES:
                    found.append(f"line {line}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.module.split(".")[0] in FORBIDDEN_MODULES:
                found.append(f"line {line}: from {node.module} import ...")
        elif isinstance(node, ast.Name) and node.id == "float":
            found.append(f"line {line}: the name 'float'")
    return found


def test_the_scan_covers_the_pricing_package() -> None:
    names = {module.name for module in MODULES}
    assert {"money.py", "catalog.py", "cost.py", "usage.py", "__init__.py"} <= names


#: The only exceptions, each for a reason that keeps money exact.
ALLOWED: dict[str, set[str]] = {
    # genai-prices hands over its prices as Decimal: the layer checks the type and reads each
    # one's exact decimal text (never dividing or rounding it).
    "genai_layer.py": {"from decimal import ..."},
    # The start-up fetch's network timeout is a number of seconds, not money.
    "refresh.py": {"the name 'float'"},
}


def _kind(hazard: str) -> str:
    return hazard.split(": ", 1)[1]


@pytest.mark.parametrize("module", MODULES, ids=lambda path: path.name)
def test_pricing_modules_have_no_float_hazards(module: pathlib.Path) -> None:
    allowed = ALLOWED.get(module.name, set())
    hazards = float_hazards(module.read_text("utf-8"))
    assert [hazard for hazard in hazards if _kind(hazard) not in allowed] == []


@pytest.mark.parametrize(
    "snippet",
    [
        "x = 0.5",
        "x = a / b",
        "x /= 2",
        "x = float(y)",
        "x = round(y, 2)",
        "import math",
        "from decimal import Decimal",
        "x = 10 ** -6",
        "def f(x: float) -> None: ...",
    ],
)
def test_the_scan_catches_each_kind_of_float(snippet: str) -> None:
    assert float_hazards(snippet)
