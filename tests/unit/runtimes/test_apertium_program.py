"""The Apertium runtime's handling of its program, against stand-in ``apertium`` scripts: how
texts are sent and regrouped, and how a missing, failing, hanging or miscounting program
is reported."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from modelmart.errors import (
    BadModelOutput,
    InferenceError,
    InferenceTimeout,
    InvalidRequest,
    NotReady,
    UnsupportedFormat,
)
from modelmart.runtimes.apertium import ApertiumRuntime, mode_for, translate
from modelmart.runtimes.base import LoadRequest
from modelmart.types import ArtifactFormat

LISTS_PAIRS = 'if [ "$1" = "-l" ]; then printf "  eng-spa\\n  spa-eng\\n"; exit 0; fi\n'


def fake_apertium(monkeypatch: pytest.MonkeyPatch, directory: Path, body: str) -> None:
    """An ``apertium`` on PATH that lists both pairs and otherwise runs ``body``."""
    script = directory / "apertium"
    script.write_text(f"#!/bin/sh\n{LISTS_PAIRS}{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")


def loaded(tmp_path: Path, **parameters: object) -> ApertiumRuntime:
    runtime = ApertiumRuntime()
    parameters = {"source": "en", "target": "es", **parameters}
    runtime.load(LoadRequest(tmp_path, ArtifactFormat.PACKAGE, parameters=parameters))
    return runtime


def test_each_line_goes_through_one_call_and_texts_are_regrouped(monkeypatch, tmp_path):
    fake_apertium(monkeypatch, tmp_path, 'echo "$*" > "$(dirname "$0")/args"; tr a-z A-Z')
    runtime = loaded(tmp_path)
    texts = np.array(["one", "two\nlines", "", b"bytes"], dtype=object)
    outputs = runtime.predict({"text": texts})
    assert outputs["translation"].tolist() == ["ONE", "TWO\nLINES", "", "BYTES"]
    assert (tmp_path / "args").read_text() == "-u eng-spa\n"
    assert runtime.metadata["mode"] == "eng-spa"
    assert runtime.signature.outputs[0].name == "translation"
    runtime.unload()
    with pytest.raises(NotReady, match="no model loaded"):
        runtime.predict({"text": texts})


def test_an_empty_batch_starts_no_program():
    assert translate([], "eng-spa", 1.0) == []


def test_a_missing_program_fails_the_load_with_the_apt_command(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NotReady, match="apt-get install apertium apertium-eng-spa"):
        loaded(tmp_path)


def test_a_missing_pair_fails_the_load(monkeypatch, tmp_path):
    fake_apertium(monkeypatch, tmp_path, "cat")
    (tmp_path / "apertium").write_text('#!/bin/sh\nprintf "  eng-cat\\n"\n')
    with pytest.raises(NotReady, match="no eng-spa language pair"):
        loaded(tmp_path)


def test_a_crash_is_a_model_error_with_the_programs_message(monkeypatch, tmp_path):
    fake_apertium(monkeypatch, tmp_path, 'echo "segmentation fault" >&2; exit 139')
    runtime = loaded(tmp_path)
    with pytest.raises(InferenceError, match="exit status 139: segmentation fault"):
        runtime.predict({"text": np.array(["hello"], dtype=object)})


def test_a_hang_is_a_timeout(monkeypatch, tmp_path):
    fake_apertium(monkeypatch, tmp_path, "exec sleep 5")
    runtime = loaded(tmp_path, timeout_s=0.2)
    with pytest.raises(InferenceTimeout, match=r"did not finish within 0\.2 s"):
        runtime.predict({"text": np.array(["hello"], dtype=object)})


def test_a_wrong_line_count_is_never_a_misaligned_answer(monkeypatch, tmp_path):
    fake_apertium(monkeypatch, tmp_path, "head -n 1")
    runtime = loaded(tmp_path)
    with pytest.raises(BadModelOutput, match="returned 1 lines for 2"):
        runtime.predict({"text": np.array(["one", "two"], dtype=object)})


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"source": "en", "target": "fr"}, "translates en->es, es->en"),
        ({"target": "es"}, "'source' and 'target' are None and 'es'"),
    ],
)
def test_a_pair_it_cannot_translate_is_refused(parameters, message):
    with pytest.raises(InvalidRequest, match=message):
        mode_for(parameters)


@pytest.mark.parametrize("timeout", [0, -1, True, "10"])
def test_the_timeout_must_be_positive_seconds(monkeypatch, tmp_path, timeout):
    fake_apertium(monkeypatch, tmp_path, "cat")
    with pytest.raises(InvalidRequest, match="timeout_s"):
        loaded(tmp_path, timeout_s=timeout)


def test_uploads_are_not_its_format(tmp_path):
    with pytest.raises(UnsupportedFormat, match="apertium-en-es"):
        ApertiumRuntime().load(LoadRequest(tmp_path, ArtifactFormat.ONNX))


def test_spaces_the_program_adds_at_line_edges_are_dropped(monkeypatch, tmp_path):
    fake_apertium(monkeypatch, tmp_path, "sed 's/^/ /; s/$/ /'")
    runtime = loaded(tmp_path)
    texts = np.array(["one", "  two\n", " "], dtype=object)
    assert runtime.predict({"text": texts})["translation"].tolist() == ["one", "  two\n", " "]
