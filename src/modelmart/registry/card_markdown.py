"""A version's model card as Markdown: headed sections, tables for metrics and lineage.

Every value comes from a user somewhere (model names, declared uses, lineage), so each is
escaped: one line only, Markdown punctuation backslash-escaped and ``<``, ``>``, ``&`` as
entities, so that no value can add a heading, a table cell, a link or HTML to the page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence

from modelmart.schemas.registry import VersionCard

_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]#|~])")
_LIST_MARKER = re.compile(r"^(\s*)(?:([-+])|(\d+)([.)]))")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029]+")
_NOT_KNOWN = "not known"


def escape(text: object, *, starts_line: bool = True) -> str:
    """``text`` as inert inline Markdown on one line; ``starts_line`` also keeps a leading
    "- ", "+ " or "1. " from starting a list (needless inside a table cell)."""
    flat = _LINE_BREAKS.sub(" ", str(text))
    entities = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    inert = _MARKDOWN_PUNCTUATION.sub(r"\\\1", entities)
    return _LIST_MARKER.sub(_escaped_marker, inert, count=1) if starts_line else inert


def _escaped_marker(match: re.Match[str]) -> str:
    space, bullet, digits, dot = match.groups()
    return f"{space}\\{bullet}" if bullet else f"{space}{digits}\\{dot}"


def render_markdown(card: VersionCard) -> str:
    """The card as a Markdown document."""
    sections = [
        [f"# Model card: {escape(card.model)} version {card.version}"],
        _overview(card),
        _section("Intended use", [escape(card.intended_use or "not declared")]),
        _section("Training data and lineage", _lineage(card)),
        _section("Measured quality", _quality(card)),
        _section("Limits", [f"- {escape(line)}" for line in card.limits] or ["- none recorded"]),
        _section("Licence", [escape(card.licence)]),
        _section("Energy per item", _energy(card)),
        _section("Explanations", _explanation(card)),
    ]
    return "\n\n".join("\n".join(lines) for lines in sections) + "\n"


def _section(title: str, lines: list[str]) -> list[str]:
    return [f"## {title}", "", *lines]


def _overview(card: VersionCard) -> list[str]:
    return _table(
        ("Field", "Value"),
        [
            ("Source", card.source),
            ("Owner", card.owner or _NOT_KNOWN),
            ("Task", card.task.value),
            ("Format", card.format.value),
            ("Runtime", card.runtime.value),
            ("Registered", card.created_at.isoformat()),
        ],
    )


def _lineage(card: VersionCard) -> list[str]:
    lineage = card.training
    rows = [
        ("Dataset", lineage.dataset or _NOT_KNOWN),
        ("Dataset version", _or_unknown(lineage.dataset_version)),
        ("Dataset digest", lineage.dataset_digest or _NOT_KNOWN),
        ("Parent version", _or_unknown(lineage.parent_version)),
        ("Training job", lineage.training_job or _NOT_KNOWN),
    ]
    rows += [(f"Package {name}", version) for name, version in lineage.packages.items()]
    recorded = json.dumps(lineage.recorded, sort_keys=True, default=str)
    return [*_table(("Field", "Value"), rows), "", f"Recorded lineage: {escape(recorded)}"]


def _quality(card: VersionCard) -> list[str]:
    if not card.quality:
        return ["Not evaluated."]
    return _table(
        ("Metric", "Value", "Evaluation set"),
        [(m.metric, f"{m.value:.4g}", m.evaluation_set or "not named") for m in card.quality],
    )


def _energy(card: VersionCard) -> list[str]:
    energy = card.energy_per_item
    if energy is None:
        return ["Not measured: no latency was measured for this version."]
    # An estimate's method starts by saying so; a measurement is named as one.
    method = escape(energy.method) if energy.estimated else f"measured: {escape(energy.method)}"
    return [f"{energy.joules_per_item:.4g} J per item ({method})"]


def _explanation(card: VersionCard) -> list[str]:
    explanation = card.explanation
    if explanation.method is None:
        return [f"None: {escape(explanation.reason or _NOT_KNOWN)}."]
    return [escape(explanation.method)]


def _or_unknown(value: int | None) -> str:
    return _NOT_KNOWN if value is None else str(value)


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = [_row(header), _row(["---"] * len(header), raw=True)]
    lines += [_row(row) for row in rows]
    return lines


def _row(cells: Sequence[object], *, raw: bool = False) -> str:
    shown = [str(cell) if raw else escape(cell, starts_line=False) for cell in cells]
    return f"| {' | '.join(shown)} |"
