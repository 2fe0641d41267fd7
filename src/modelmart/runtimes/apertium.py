"""Translation with Apertium: a rule-based (shallow-transfer) machine translation engine, not
a neural model, run as a separate program.

Apertium and its language-pair data are GPL-licensed Debian packages (``apertium``,
``apertium-eng-spa``), so ModelMart never links them: it starts ``apertium -u <mode>`` as a
child process, writes the texts to its standard input and reads the translations back. A
version is a package reference with no files and no Python packages; ``load`` checks that the
program and the pair are installed and fails the deployment with the apt-get command when
they are not.

Served signature: ``text`` BYTES [-1] in, ``translation`` BYTES [-1] out. Parameters:
``source`` and ``target`` (ISO 639-1 codes; one direction per version) and ``timeout_s``.
Apertium translates line by line, so one call takes the whole batch, one line per text line
(starting it costs about a quarter of a second; translating a line, a millisecond).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from typing import Any

import numpy as np

from modelmart.arrays import Batch
from modelmart.errors import (
    BadModelOutput,
    InferenceError,
    InferenceTimeout,
    InvalidRequest,
    NotReady,
    UnsupportedFormat,
)
from modelmart.runtimes.base import LoadRequest, Runtime
from modelmart.runtimes.parameters import texts
from modelmart.runtimes.signatures import reconcile
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, TensorSpec

PROGRAM = "apertium"
MODES: dict[tuple[str, str], str] = {("en", "es"): "eng-spa", ("es", "en"): "spa-eng"}
"""(source, target) ISO 639-1 codes -> the Apertium mode that translates them."""
DEBIAN_PACKAGES: dict[str, str] = {"eng-spa": "apertium-eng-spa", "spa-eng": "apertium-eng-spa"}
DEFAULT_TIMEOUT_S = 60.0
_CHECK_TIMEOUT_S = 30.0
SIGNATURE = Signature(
    inputs=(TensorSpec(name="text", datatype=Datatype.BYTES, shape=(-1,)),),
    outputs=(TensorSpec(name="translation", datatype=Datatype.BYTES, shape=(-1,)),),
)


class ApertiumRuntime(Runtime):
    """Translates each text in one direction through the ``apertium`` program."""

    name = RuntimeName.APERTIUM
    label = "Apertium"
    _mode: str | None = None
    _timeout_s: float = DEFAULT_TIMEOUT_S

    def load(self, request: LoadRequest) -> None:
        if request.format is not ArtifactFormat.PACKAGE:
            raise UnsupportedFormat(
                f"the Apertium runtime serves the package reference of the built-in "
                f"catalogue, not a {request.format.value} upload; deploy the catalogue's "
                "apertium-en-es or apertium-es-en model"
            )
        signature = reconcile(request.signature, SIGNATURE)
        mode = mode_for(request.parameters)
        self._timeout_s = _timeout(request.parameters)
        check_installed(mode)
        self._mode = mode
        self._signature = signature

    def predict(self, batch: Batch) -> Batch:
        mode = self._require(self._mode)
        translated = translate(texts(batch["text"]), mode, self._timeout_s)
        return {"translation": np.array(translated, dtype=object)}

    def unload(self) -> None:
        self._mode = None
        super().unload()

    @property
    def metadata(self) -> dict[str, Any]:
        facts = {**super().metadata, "engine": "rule-based (Apertium, GPL, separate process)"}
        if self._mode is not None:
            facts["mode"] = self._mode
        return facts


def mode_for(parameters: Mapping[str, Any]) -> str:
    """The Apertium mode for the ``source`` and ``target`` parameters."""
    pair = (parameters.get("source"), parameters.get("target"))
    mode = MODES.get(pair)  # type: ignore[arg-type]
    if mode is None:
        known = ", ".join(f"{source}->{target}" for source, target in MODES)
        raise InvalidRequest(
            f"parameters 'source' and 'target' are {pair[0]!r} and {pair[1]!r}; this "
            f"runtime translates {known} (ISO 639-1 codes)"
        )
    return mode


def _timeout(parameters: Mapping[str, Any]) -> float:
    value = parameters.get("timeout_s", DEFAULT_TIMEOUT_S)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InvalidRequest(f"parameter 'timeout_s' is {value!r}; expected seconds above 0")
    return float(value)


def _install_advice(mode: str) -> str:
    return f"install it with: apt-get install {PROGRAM} {DEBIAN_PACKAGES.get(mode, '')}".strip()


def check_installed(mode: str) -> None:
    """NotReady with the apt-get command unless ``apertium`` runs and knows ``mode``."""
    if shutil.which(PROGRAM) is None:
        raise NotReady(
            f"the {PROGRAM} program is not installed; {_install_advice(mode)}",
            details={"program": PROGRAM},
        )
    listed = _run([PROGRAM, "-l"], "", _CHECK_TIMEOUT_S)
    if mode not in listed.split():
        raise NotReady(
            f"{PROGRAM} has no {mode} language pair; {_install_advice(mode)}",
            details={"program": PROGRAM, "mode": mode},
        )


def translate(items: list[str], mode: str, timeout_s: float) -> list[str]:
    """Each text of ``items`` translated by one ``apertium`` run.

    Apertium keeps line breaks, so every line of every text goes on its own input line and
    the output lines are regrouped by count; a count that differs is an error, never a
    misaligned answer.
    """
    if not items:
        return []
    lines = [text.split("\n") for text in items]
    stream = "".join(f"{line}\n" for text_lines in lines for line in text_lines)
    output = _run([PROGRAM, "-u", mode], stream, timeout_s).split("\n")
    if output and output[-1] == "":
        output.pop()
    expected = sum(len(text_lines) for text_lines in lines)
    if len(output) != expected:
        raise BadModelOutput(
            f"{PROGRAM} {mode} returned {len(output)} lines for {expected}; it must return "
            "one line per input line"
        )
    translated: list[str] = []
    cursor = 0
    for text_lines in lines:
        pairs = zip(text_lines, output[cursor : cursor + len(text_lines)], strict=True)
        translated.append("\n".join(_same_edges(line, out) for line, out in pairs))
        cursor += len(text_lines)
    return translated


def _same_edges(source: str, translation: str) -> str:
    """``translation`` with the leading and trailing whitespace of ``source``: Apertium
    sometimes starts a line with a space that was never there."""
    core = translation.strip()
    lead = source[: len(source) - len(source.lstrip())]
    trail = source[len(source.rstrip()) :]
    return f"{lead}{core}{trail}" if core else source


def _run(command: list[str], stdin: str, timeout_s: float) -> str:
    """The program's standard output; its failures as ModelMart errors that name it."""
    try:
        finished = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise InferenceTimeout(
            f"{' '.join(command)} did not finish within {timeout_s:g} s; send fewer or "
            "shorter texts, or raise the version's timeout_s parameter"
        ) from exc
    except OSError as exc:
        raise NotReady(f"{command[0]} could not be started ({exc}); reinstall it") from exc
    if finished.returncode != 0:
        raise InferenceError(
            f"{' '.join(command)} failed with exit status {finished.returncode}: "
            f"{finished.stderr.strip()[-500:] or 'no message'}",
            details={"program": command[0], "returncode": finished.returncode},
        )
    return finished.stdout
