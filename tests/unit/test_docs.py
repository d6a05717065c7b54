"""The documentation covers the code: every configuration field, every Amazon reasonCode the
client knows, every page in the site's nav, every README link."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from saleor_amazonpay.core.errors import _BY_REASON
from saleor_amazonpay.plugin.settings import FIELDS

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"


def _text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", [f.name for f in FIELDS])
def test_every_configuration_field_is_documented(name):
    assert f"`{name}`" in _text("configuration.md"), (
        f"docs/configuration.md does not mention the field {name!r}: run scripts/gen-config-doc")


def test_configuration_fields_are_documented_with_their_dashboard_labels():
    text = _text("configuration.md")
    missing = [f.label for f in FIELDS if f"**{f.label}**" not in text]
    assert not missing, f"run scripts/gen-config-doc; labels missing: {missing}"


@pytest.mark.parametrize("reason_code", sorted(_BY_REASON))
def test_every_reason_code_is_in_troubleshooting(reason_code):
    assert re.search(rf"`{reason_code}`", _text("troubleshooting.md")), (
        f"docs/troubleshooting.md does not explain reasonCode {reason_code}")


def _nav_pages() -> "list[str]":
    config = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    nav = config.split("\nnav:", 1)[1]
    return re.findall(r":\s*([\w./-]+\.md)\s*$", nav, flags=re.M)


def test_every_docs_page_is_in_the_nav():
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    nav = _nav_pages()
    missing = [p for p in pages if p not in nav]
    assert not missing, f"add these pages to the nav in mkdocs.yml: {missing}"


def test_the_nav_names_only_existing_pages():
    absent = [p for p in _nav_pages() if not (DOCS / p).is_file()]
    assert not absent, f"mkdocs.yml's nav names pages that do not exist: {absent}"


def test_readme_links_point_at_existing_files():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [t for t in targets if "://" not in t and not t.startswith("mailto:")]
    assert local, "README.md should link to the docs"
    broken = [t for t in local if not (REPO / t).exists()]
    assert not broken, f"README.md links to missing files: {broken}"
