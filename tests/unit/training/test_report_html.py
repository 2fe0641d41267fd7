from typing import Any

from modelmart.training.api import render_comparison_html, render_report_html


def classification_report(accuracy: float) -> dict[str, Any]:
    return {
        "task": "classification",
        "family": "mlp",
        "dataset": {"name": "iris", "version": 2},
        "split_sizes": {"train": 100, "validation": 25, "test": 25},
        "metrics": {"accuracy": accuracy, "log_loss": 0.3},
        "confidence_intervals": {"accuracy": [accuracy - 0.05, accuracy + 0.05]},
        "per_class": {
            "<setosa>": {"precision": 1.0, "recall": 0.9, "f1": 0.95, "support": 10},
            "virginica": {"precision": 0.8, "recall": 1.0, "f1": 0.89, "support": 15},
        },
        "confusion_matrix": {"labels": ["<setosa>", "virginica"], "matrix": [[9, 1], [0, 15]]},
        "curves": {
            "virginica": {
                "roc": {"fpr": [0.0, 0.1, 1.0], "tpr": [0.0, 0.9, 1.0]},
                "pr": {"recall": [1.0, 0.5, 0.0], "precision": [0.6, 0.9, 1.0]},
            }
        },
        "learning_curves": [
            {"epoch": 1.0, "train_loss": 1.0, "validation_loss": 1.1, "validation_accuracy": 0.5},
            {"epoch": 2.0, "train_loss": 0.5, "validation_loss": 0.7, "validation_accuracy": 0.8},
        ],
    }


def test_report_page_is_self_contained_with_every_plot() -> None:
    html = render_report_html(classification_report(0.9), "iris <v2>")
    assert html.startswith("<!DOCTYPE html>")
    # learning curves, confusion matrix, ROC, precision-recall
    assert html.count("<svg") == 4
    assert "iris &lt;v2&gt;" in html
    assert "&lt;setosa&gt;" in html
    assert "<setosa>" not in html
    assert "0.8500 - 0.9500" in html
    assert "<link" not in html
    assert "src=" not in html
    assert "<script" not in html


def test_regression_report_plots_residuals() -> None:
    report = {
        "task": "regression",
        "metrics": {"mse": 1.0, "r2": 0.5},
        "residuals": {"predicted": [1.0, 2.0], "residual": [0.1, -0.2]},
    }
    html = render_report_html(report, "prices")
    assert html.count("<svg") == 1
    assert "Residuals" in html


def test_comparison_marks_the_better_side() -> None:
    html = render_comparison_html(
        classification_report(0.8), classification_report(0.9), ("v1", "v2")
    )
    assert "<span class='better'>+0.1000</span>" in html
    assert "<span class=''>+0.0000</span>" in html  # log loss unchanged
    assert html.count("<svg") == 8
    worse = render_comparison_html(
        {"metrics": {"log_loss": 0.2, "only_a": 1.0}}, {"metrics": {"log_loss": 0.3}}, ("a", "b")
    )
    assert "<span class='worse'>+0.1000</span>" in worse
    assert "only_a" in worse
