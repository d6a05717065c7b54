"""saleor_amazonpay.core stays Saleor-free: stdlib + requests + cryptography only."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import saleor_amazonpay.core

pytestmark = pytest.mark.unit

CORE_DIR = Path(saleor_amazonpay.core.__file__).parent
CORE_MODULES = sorted(CORE_DIR.glob("*.py"))
THIRD_PARTY_ALLOWED = {"requests", "cryptography"}
STDLIB = set(sys.stdlib_module_names)


def _imports(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, 0, alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, node.level, node.module, tuple(a.name for a in node.names)


def test_core_has_the_expected_modules():
    names = {p.stem for p in CORE_MODULES}
    assert {"__init__", "config", "constants", "signing", "errors", "models", "transport", "retry", "client"} <= names


@pytest.mark.parametrize("path", CORE_MODULES, ids=[p.name for p in CORE_MODULES])
def test_core_module_imports(path):
    core_names = {p.stem for p in CORE_MODULES}
    bad = []
    for lineno, level, module, names in _imports(path):
        where = f"{path.name}:{lineno}"
        if level == 0:
            root = module.split(".")[0]
            if root not in STDLIB and root not in THIRD_PARTY_ALLOWED:
                bad.append(f"{where} imports {module}")
        elif level == 1:
            # Inside core: `from .x import y` must name a core module (or a core module's names).
            target = (module or "").split(".")[0]
            if module is None:
                if not set(names) <= core_names:
                    bad.append(f"{where} imports {names} from core package")
            elif target not in core_names:
                bad.append(f"{where} imports .{module}")
        elif level == 2 and module is None and names == ("__version__",):
            # `from .. import __version__`: the import-light package root, nothing else.
            continue
        else:
            bad.append(f"{where} reaches outside core: {'.' * level}{module or ''} {names}")
    assert not bad, "\n".join(bad)


def test_package_root_is_import_light():
    root = Path(saleor_amazonpay.__file__)
    assert [imp for imp in _imports(root)] == [], "saleor_amazonpay/__init__.py must not import anything"


def test_importing_core_pulls_in_no_saleor_or_django():
    code = textwrap.dedent(
        """
        import sys
        import saleor_amazonpay.core
        from saleor_amazonpay.core import AmazonPayClient, AmazonPayConfig  # noqa: F401
        forbidden = ("django", "saleor", "graphene", "celery", "prices", "saleor_amazonpay.plugin",
                     "saleor_amazonpay.emulator", "saleor_amazonpay.saleor_plugin")
        loaded = sorted(m for m in sys.modules if any(m == f or m.startswith(f + ".") for f in forbidden))
        own = sorted(m for m in sys.modules if m.startswith("saleor_amazonpay"))
        print("FORBIDDEN=" + ",".join(loaded))
        print("OWN=" + ",".join(own))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split("=", 1) for line in result.stdout.strip().splitlines())
    assert lines["FORBIDDEN"] == ""
    own = set(lines["OWN"].split(","))
    assert "saleor_amazonpay.core" in own
    assert all(m == "saleor_amazonpay" or m.startswith("saleor_amazonpay.core") for m in own), own
