"""Inspecting uploads in a child process: results, errors, crashes and hangs."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from modelmart.errors import InvalidArtifact
from modelmart.registry.inspection import IsolatedInspector
from modelmart.runtimes.base import LoadRequest
from modelmart.types import ArtifactFormat, RuntimeName, Signature
from tests.integration.models import iris_skops


def crash(runtime: RuntimeName, request: LoadRequest) -> Signature:
    os._exit(7)  # what a segfault in a native loader looks like from outside


def hang(runtime: RuntimeName, request: LoadRequest) -> Signature:
    time.sleep(60)
    raise AssertionError("unreachable")


def test_a_real_model_reports_its_signature(tmp_path: Path) -> None:
    request = LoadRequest(iris_skops(tmp_path / "iris.skops"), ArtifactFormat.SKOPS)
    signature = IsolatedInspector(timeout_s=120)(RuntimeName.SKLEARN, request)
    assert [spec.name for spec in signature.outputs] == ["label", "probabilities"]


def test_load_errors_come_back_as_their_own_class(tmp_path: Path) -> None:
    broken = tmp_path / "broken.skops"
    broken.write_bytes(iris_skops(tmp_path / "iris.skops").read_bytes()[:100])
    with pytest.raises(InvalidArtifact, match="could not be loaded"):
        IsolatedInspector(timeout_s=120)(
            RuntimeName.SKLEARN, LoadRequest(broken, ArtifactFormat.SKOPS)
        )


def test_a_crash_while_loading_is_an_invalid_artifact(tmp_path: Path) -> None:
    request = LoadRequest(tmp_path / "any.onnx", ArtifactFormat.ONNX)
    with pytest.raises(InvalidArtifact, match="crashed the process"):
        IsolatedInspector(timeout_s=120, inspect=crash)(RuntimeName.ONNX, request)


def test_a_hang_while_loading_is_cut_off(tmp_path: Path) -> None:
    request = LoadRequest(tmp_path / "any.onnx", ArtifactFormat.ONNX)
    started = time.monotonic()
    with pytest.raises(InvalidArtifact, match="longer than 3 s"):
        IsolatedInspector(timeout_s=3, inspect=hang)(RuntimeName.ONNX, request)
    assert time.monotonic() - started < 30
