"""The console's explanation view, run in Node against a minimal DOM: attributions become
bars (largest first), a heatmap becomes the server's PNG, and tokens stay text."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[3] / "src" / "modelmart" / "console" / "static"
NODE = shutil.which("node")
HOSTILE = '<img src=x onerror="alert(1)">'

SCRIPT = """
class Node {}
class Element extends Node {
  constructor(tag) { super(); this.tag = tag; this.attributes = {}; this.children = []; }
  setAttribute(name, value) { this.attributes[name] = String(value); }
  addEventListener() {}
  append(child) { this.children.push(child); }
  toJSON() {
    const { tag, attributes, value, children } = this;
    return { tag, attributes, value, children };
  }
}
globalThis.Node = Node;
globalThis.document = { createElement: (tag) => new Element(tag) };
const { explanationView, imageShape } = await import(process.argv[1]);
const [answer, signature] = JSON.parse(process.argv[2]);
process.stdout.write(JSON.stringify([explanationView(answer), imageShape(signature)]));
"""


def answer() -> dict[str, object]:
    return {
        "method": {"name": "token-occlusion", "parameters": {"max_spans": 10}},
        "explanations": [
            {
                "target": "pos",
                "attributions": [0.1, -0.4, 0.0],
                "base_value": 0.5,
                "output_value": 0.9,
                "tokens": ["fine", HOSTILE, "it"],
                "top_tokens": ["fine"],
            },
            {
                "target": "7",
                "attributions": [[0.0, 1.0], [0.5, 0.0]],
                "base_value": 0.1,
                "output_value": 0.8,
                "heatmap_png": "iVBORw0KGgo=",
            },
        ],
    }


def nodes(node: object, tag: str) -> list[dict[str, object]]:
    if not isinstance(node, dict):
        return []
    found = [node] if node["tag"] == tag else []
    return found + [n for child in node["children"] for n in nodes(child, tag)]


def texts(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    assert isinstance(node, dict)
    return [text for child in node["children"] for text in texts(child)]


@pytest.mark.skipif(NODE is None, reason="needs Node.js to run the console's modules")
def test_attributions_are_bars_and_a_heatmap_is_the_servers_png() -> None:
    module = (STATIC / "pages" / "explain.js").as_uri()
    signature = {"inputs": [{"name": "image", "datatype": "FP32", "shape": [-1, 1, 16, 16]}]}
    ran = subprocess.run(
        [str(NODE), "--input-type=module", "-e", SCRIPT, module, json.dumps([answer(), signature])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    tree, shape = json.loads(ran.stdout)

    assert shape == [1, 16, 16]
    meters = nodes(tree, "meter")
    assert [m["attributes"]["class"] for m in meters] == ["negative", "positive", "positive"]
    assert [float(m["value"]) for m in meters] == [1.0, 0.25, 0.0]
    shown = texts(tree)
    assert HOSTILE in shown  # a token is a text node, never markup
    assert "Top tokens: fine" in shown
    (image,) = nodes(tree, "img")
    assert image["attributes"]["src"] == "data:image/png;base64,iVBORw0KGgo="


def test_the_console_registers_the_page() -> None:
    assert 'import * as explain from "./pages/explain.js";' in (STATIC / "app.js").read_text()
    assert 'href="#/explain"' in (STATIC / "index.html").read_text()
    assert "innerHTML" not in (STATIC / "pages" / "explain.js").read_text()
