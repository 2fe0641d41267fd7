"""Evaluation reports as self-contained HTML: inline SVG plots, no external assets.

Plots are drawn with matplotlib's Agg-free SVG backend into strings; every value shown is
escaped, since dataset labels and names come from users.
"""

from __future__ import annotations

import io
from html import escape
from typing import Any

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;
text-align:right}th{background:#f3f3f3}.plots{display:flex;flex-wrap:wrap;gap:1rem}
.plots figure{margin:0}.side{display:grid;grid-template-columns:1fr 1fr;gap:2rem}
.better{color:#1a7f37}.worse{color:#cf222e}
"""
_LOWER_IS_BETTER = ("loss", "mse", "mae", "error")


def render_report(report: dict[str, Any], title: str) -> str:
    body = _report_body(report)
    return _page(title, f"<h1>{escape(title)}</h1>{body}")


def render_comparison(a: dict[str, Any], b: dict[str, Any], titles: tuple[str, str]) -> str:
    heading = f"{escape(titles[0])} vs {escape(titles[1])}"
    columns = "".join(
        f"<div><h2>{escape(t)}</h2>{_report_body(r, metrics=False)}</div>"
        for t, r in zip(titles, (a, b), strict=True)
    )
    comparison = _comparison_table(a.get("metrics", {}), b.get("metrics", {}), titles)
    return _page(heading, f"<h1>{heading}</h1>{comparison}<div class='side'>{columns}</div>")


def _page(title: str, body: str) -> str:
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def _report_body(report: dict[str, Any], metrics: bool = True) -> str:
    parts = [_summary(report)]
    if metrics:
        parts.append(
            _metrics_table(report.get("metrics", {}), report.get("confidence_intervals", {}))
        )
    if report.get("per_class"):
        parts.append(_per_class_table(report["per_class"]))
    plots = [
        _learning_curves(report.get("learning_curves", [])),
        _confusion(report.get("confusion_matrix")),
        *_curves(report.get("curves", {})),
        _residuals(report.get("residuals")),
    ]
    figures = "".join(f"<figure>{svg}</figure>" for svg in plots if svg)
    parts.append(f"<div class='plots'>{figures}</div>")
    return "".join(parts)


def _summary(report: dict[str, Any]) -> str:
    dataset = report.get("dataset", {})
    sizes = report.get("split_sizes", {})
    facts = {
        "task": report.get("task"),
        "family": report.get("family"),
        "dataset": f"{dataset.get('name')} v{dataset.get('version')}" if dataset else None,
        "train / validation / test rows": " / ".join(
            str(sizes.get(k, "-")) for k in ("train", "validation", "test")
        ),
    }
    rows = "".join(
        f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in facts.items() if v
    )
    return f"<table>{rows}</table>"


def _metrics_table(metrics: dict[str, float], intervals: dict[str, list[float]]) -> str:
    rows = "".join(
        f"<tr><th>{escape(name)}</th><td>{value:.4f}</td><td>{_interval(intervals.get(name))}</td></tr>"
        for name, value in metrics.items()
    )
    header = "<tr><th>metric</th><th>value</th><th>95 % CI</th></tr>"
    return f"<h2>Test metrics</h2><table>{header}{rows}</table>"


def _interval(bounds: list[float] | None) -> str:
    return f"{bounds[0]:.4f} - {bounds[1]:.4f}" if bounds else ""


def _per_class_table(per_class: dict[str, dict[str, float]]) -> str:
    header = "<tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>"
    rows = "".join(
        f"<tr><th>{escape(label)}</th><td>{m['precision']:.3f}</td><td>{m['recall']:.3f}</td>"
        f"<td>{m['f1']:.3f}</td><td>{int(m['support'])}</td></tr>"
        for label, m in per_class.items()
    )
    return f"<h2>Per class</h2><table>{header}{rows}</table>"


def _comparison_table(a: dict[str, float], b: dict[str, float], titles: tuple[str, str]) -> str:
    rows = []
    for name in [*a, *(n for n in b if n not in a)]:
        left, right = a.get(name), b.get(name)
        delta = "" if left is None or right is None else _delta(name, right - left)
        rows.append(
            f"<tr><th>{escape(name)}</th><td>{_number(left)}</td><td>{_number(right)}</td>"
            f"<td>{delta}</td></tr>"
        )
    names = "".join(f"<th>{escape(title)}</th>" for title in titles)
    header = f"<tr><th>metric</th>{names}<th>Δ</th></tr>"
    return f"<h2>Metrics</h2><table>{header}{''.join(rows)}</table>"


def _delta(name: str, difference: float) -> str:
    lower_better = any(word in name for word in _LOWER_IS_BETTER)
    better = difference < 0 if lower_better else difference > 0
    css = "better" if better and difference else "worse" if difference else ""
    return f"<span class='{css}'>{difference:+.4f}</span>"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _figure() -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.2, 3.4))
    return figure, figure.subplots()


def _svg(figure: Any) -> str:
    figure.tight_layout()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})  # same report, same bytes
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prologue: the SVG sits inline in HTML


def _learning_curves(history: list[dict[str, float]]) -> str:
    series = [k for k in ("train_loss", "validation_loss") if any(k in e for e in history)]
    series += [
        k
        for k in (history[0] if history else {})
        if k.startswith("validation_") and k not in series
    ]
    if not series:
        return ""
    figure, axes = _figure()
    for name in series:
        points = [(e["epoch"], e[name]) for e in history if name in e]
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    axes.set(title="Learning curves", xlabel="epoch")
    axes.legend()
    return _svg(figure)


def _confusion(confusion: dict[str, Any] | None) -> str:
    if not confusion:
        return ""
    labels, matrix = confusion["labels"], confusion["matrix"]
    figure, axes = _figure()
    axes.imshow(matrix, cmap="Blues")
    ticks = range(len(labels))
    axes.set_xticks(ticks, labels=[str(label) for label in labels], rotation=45, ha="right")
    axes.set_yticks(ticks, labels=[str(label) for label in labels])
    axes.set(title="Confusion matrix", xlabel="predicted", ylabel="true")
    if len(labels) <= 12:  # beyond that the counts are unreadable
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                axes.text(j, i, str(count), ha="center", va="center", fontsize=7)
    return _svg(figure)


def _curves(curves: dict[str, Any]) -> list[str]:
    if not curves:
        return []
    roc, roc_axes = _figure()
    pr, pr_axes = _figure()
    for label, curve in curves.items():
        roc_axes.plot(curve["roc"]["fpr"], curve["roc"]["tpr"], label=str(label))
        pr_axes.plot(curve["pr"]["recall"], curve["pr"]["precision"], label=str(label))
    roc_axes.plot([0, 1], [0, 1], linestyle="--", color="grey")
    roc_axes.set(title="ROC", xlabel="false positive rate", ylabel="true positive rate")
    pr_axes.set(title="Precision-recall", xlabel="recall", ylabel="precision")
    for axes in (roc_axes, pr_axes):
        axes.legend(fontsize=6)
    return [_svg(roc), _svg(pr)]


def _residuals(residuals: dict[str, list[float]] | None) -> str:
    if not residuals:
        return ""
    figure, axes = _figure()
    axes.scatter(residuals["predicted"], residuals["residual"], s=6)
    axes.axhline(0, color="grey", linestyle="--")
    axes.set(title="Residuals", xlabel="predicted", ylabel="true - predicted")
    return _svg(figure)
