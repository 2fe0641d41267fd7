"""The Markdown form of a model card: its sections, its tables, and that no value from an
uploader can add structure or HTML to it."""

from __future__ import annotations

import pytest

from modelmart.registry.card_markdown import escape, render_markdown
from modelmart.registry.cards import version_card, with_declared_card
from modelmart.schemas.registry import DeclaredCard
from modelmart.types import ArtifactFormat
from tests.unit.registry.test_cards import (
    LATENCY,
    REPORT,
    TRAINED_LINEAGE,
    catalogue_card,
    facts,
    model,
    version,
)

HOSTILE = "<script>alert(1)</script> | `code` [link](http://x) **bold**\n# Heading\n- item"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a|b", r"a\|b"),
        ("`x`", r"\`x\`"),
        ("one\ntwo\r\nthree", "one two three"),
        ("<b>&", "&lt;b&gt;&amp;"),
        ("- item", r"\- item"),
        ("3. third", r"3\. third"),
        ("[a](b)", r"\[a\](b)"),
        ("# title", r"\# title"),
        ("v1.2 (rc-1)", "v1.2 (rc-1)"),
    ],
)
def test_escape_leaves_plain_text_readable_and_markup_inert(text: str, expected: str) -> None:
    assert escape(text) == expected


def test_a_trained_card_has_every_section_and_a_metrics_table() -> None:
    stored = version(metrics={"accuracy": 0.93}, lineage=TRAINED_LINEAGE)
    text = render_markdown(version_card(model(), stored, facts(report=REPORT)))

    for heading in (
        "# Model card: iris version 1",
        "## Intended use",
        "## Training data and lineage",
        "## Measured quality",
        "## Limits",
        "## Licence",
        "## Energy per item",
        "## Explanations",
    ):
        assert f"\n{heading}\n" in f"\n{text}"
    assert "| Metric | Value | Evaluation set |" in text
    assert "| accuracy | 0.93 | held-out test split (30 rows) of dataset 'flowers' version 3 |" in (
        text
    )
    assert "| Training job | job-1 |" in text
    assert "Not measured: no latency was measured for this version." in text
    assert "cannot be explained: it is not a text or image classifier" in text


def test_uploaded_text_cannot_inject_html_cells_or_headings() -> None:
    declared = DeclaredCard(intended_use=HOSTILE, limits=[HOSTILE], licence=HOSTILE)
    stored = version(metrics={"a|b": 1.0}, lineage=with_declared_card({}, declared))
    text = render_markdown(version_card(model(), stored, facts()))

    assert "<" not in text
    assert ">" not in text
    assert "\n# Heading" not in text
    assert "\n- item" not in text
    assert "| a\\|b | 1 | not named |" in text
    # Every table row keeps exactly its columns: no cell was split by a "|".
    for line in text.splitlines():
        if line.startswith("| "):
            cells = line.replace("\\|", "").count("|")
            assert cells in (3, 4), line


def test_a_catalogue_card_states_its_energy_estimate_and_licences() -> None:
    stored = version(artifact_format=ArtifactFormat.PACKAGE, metrics={"accuracy": 0.9})
    card = version_card(model(owner="modelmart"), stored, facts(catalogue=catalogue_card(LATENCY)))
    text = render_markdown(card)

    assert (
        "0.04 J per item (estimated from CPU time x 10 W per core: 2 ms per item in batches "
        "of 32 on 2 thread(s) of AMD EPYC)"
    ) in text
    assert "## Licence\n\nlangid: BSD-2-Clause\n" in text
    assert "| accuracy | 0.9 | 200 sentences, 20 languages |" in text
