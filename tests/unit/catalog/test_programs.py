"""Catalogue models that run a program: the card says when it is missing, and how big its
Debian packages are (dpkg stood in for by a script)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from modelmart.catalog.cards import build_card
from modelmart.catalog.language_entries import APERTIUM_EN_ES
from modelmart.catalog.programs import missing_programs, programs_size
from tests.unit.catalog.catalog_fakes import measurements


def fake_dpkg_query(monkeypatch: pytest.MonkeyPatch, directory: Path, body: str) -> None:
    script = directory / "dpkg-query"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")


def test_a_missing_program_makes_the_card_unavailable_with_the_apt_command():
    assert missing_programs({}) is None
    assert missing_programs({"sh": "dash"}) is None
    reason = missing_programs({"modelmart-no-such-program": "pkg-a pkg-b", "sh": "dash"})
    assert reason is not None
    assert "modelmart-no-such-program" in reason
    assert reason.endswith("apt-get install pkg-a pkg-b")
    card = build_card(
        APERTIUM_EN_ES.model_copy(update={"programs": {"modelmart-no-such-program": "pkg"}}),
        measurements(),
    )
    assert not card.available
    assert "apt-get install pkg" in (card.unavailable_reason or "")


def test_the_size_is_what_dpkg_records_for_each_package(monkeypatch, tmp_path):
    fake_dpkg_query(
        monkeypatch, tmp_path, 'for p in "$@"; do case $p in -*) ;; *) echo 2;; esac; done'
    )
    assert programs_size({"apertium": "apertium apertium-eng-spa", "x": "apertium"}) == 4 * 1024


def test_no_size_when_a_package_is_missing_or_dpkg_is_absent(monkeypatch, tmp_path):
    fake_dpkg_query(monkeypatch, tmp_path, "echo 12; echo 'no packages found' >&2; exit 1")
    assert programs_size({"apertium": "apertium apertium-eng-spa"}) is None
    assert programs_size({}) is None
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert programs_size({"apertium": "apertium"}) is None
