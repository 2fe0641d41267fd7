"""The console's version card, run in Node against a minimal DOM: every value an uploader
wrote ends up as a text node, so no card can put markup on the page."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[3] / "src" / "modelmart" / "console" / "static"
NODE = shutil.which("node")
HOSTILE = '<img src=x onerror="alert(1)">'

# A DOM with just what ui.h uses; an element records its tag, attributes and children, and
# has no innerHTML, so any attempt to parse markup would fail loudly.
SCRIPT = """
class Node {}
class Element extends Node {
  constructor(tag) { super(); this.tag = tag; this.attributes = {}; this.children = []; }
  setAttribute(name, value) { this.attributes[name] = String(value); }
  addEventListener() {}
  append(child) { this.children.push(child); }
  toJSON() { return { tag: this.tag, attributes: this.attributes, children: this.children }; }
}
globalThis.Node = Node;
globalThis.document = { createElement: (tag) => new Element(tag) };
const { cardFacts } = await import(process.argv[1]);
const card = JSON.parse(process.argv[2]);
process.stdout.write(JSON.stringify(cardFacts(card)));
"""


def card() -> dict[str, object]:
    return {
        "model": "iris",
        "version": 2,
        "source": "upload",
        "intended_use": HOSTILE,
        "training": {"dataset": None, "dataset_version": None, "training_job": None},
        "quality": [{"metric": "accuracy", "value": 0.97, "evaluation_set": None}],
        "limits": [HOSTILE, "quality: not evaluated"],
        "licence": HOSTILE,
        "energy_per_item": None,
        "explanation": {"method": None, "reason": "not yet"},
    }


def texts(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    assert isinstance(node, dict)
    return [text for child in node["children"] for text in texts(child)]


def tags(node: object) -> set[str]:
    if isinstance(node, str):
        return set()
    assert isinstance(node, dict)
    return {node["tag"]}.union(*(tags(child) for child in node["children"]))


@pytest.mark.skipif(NODE is None, reason="needs Node.js to run the console's modules")
def test_card_values_are_text_nodes_never_markup() -> None:
    module = (STATIC / "pages" / "version_card.js").as_uri()
    ran = subprocess.run(
        [str(NODE), "--input-type=module", "-e", SCRIPT, module, json.dumps(card())],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    tree = json.loads(ran.stdout)

    assert tags(tree) == {"dl", "dt", "dd", "ul", "li"}
    shown = texts(tree)
    assert shown.count(HOSTILE) == 3  # intended use, a limit and the licence, verbatim
    assert "Training data" in shown
    assert "not recorded" in shown
    assert "accuracy = 0.97 on an unnamed set" in shown
    assert "not measured" in shown
    assert "not yet" in shown


def test_the_model_page_sets_no_inner_html() -> None:
    for page in ("version_card.js", "model.js"):
        assert "innerHTML" not in (STATIC / "pages" / page).read_text(), page
