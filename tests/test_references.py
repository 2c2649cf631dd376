"""The package's bibliography: one list, rendered as REFERENCES.md, cited by the reports and the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from drgsim import __version__
from drgsim.cli import app
from drgsim.references import bibliography, cite, markdown

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "drgsim"


def test_references_md_is_the_package_bibliography_rendered():
    assert (ROOT / "REFERENCES.md").read_text(encoding="utf-8") == markdown(), \
        "REFERENCES.md is stale: python -m drgsim.references > REFERENCES.md"


def test_every_entry_has_a_unique_key_and_a_citation_with_a_year_version_or_document_number():
    entries = [e for refs in bibliography().values() for e in refs]
    keys = [e["key"] for e in entries]
    assert len(keys) == len(set(keys)) and len(keys) > 30
    for e in entries:
        assert set(e) <= {"key", "citation", "note"}
        assert re.search(r"\b(19|20)\d\d\b|\d+\.\d+\.\d+|\bMN\d{4}", e["citation"]) or "unverified]" in e["citation"], e


def test_cite_names_an_unknown_key():
    assert cite("mcintyre2002")[0].startswith("McIntyre CC")
    with pytest.raises(KeyError, match="nope2099 not in drgsim/data/references.yaml"):
        cite("mcintyre2002", "nope2099")


def test_no_docstring_or_data_file_points_outside_the_repository():
    offenders = [str(p.relative_to(ROOT)) for p in SRC.rglob("*") if p.suffix in {".py", ".json", ".yaml", ".html"}
                 and re.search(r"\.\./shared|shared/reference", p.read_text(encoding="utf-8", errors="replace"))]
    assert not offenders


def test_cli_references_and_version():
    runner = CliRunner()
    res = runner.invoke(app, ["references", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["sections"] == bibliography()
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.strip() == f"drgsim {__version__}"
