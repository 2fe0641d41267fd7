"""Text to speech with hibari: a 7.9 MB ONNX acoustic model and a rule and lexicon G2P,
24 kHz mono out, many times faster than real time on one CPU core.

A version is a package reference to the ``assets`` folder hibari ships (the voice model, the
lexicons and the out-of-vocabulary G2P model). Served signature
(:data:`~modelmart.runtimes.speech.SPEECH_SIGNATURE`): ``text`` BYTES [-1], ``voice`` BYTES
[-1] and ``speed`` FP32 [-1] in; ``audio`` BYTES [-1] (a 16-bit mono WAV file,
base64-encoded so that every route, JSON ones included, can carry it), ``duration`` FP32 [-1]
(seconds) and ``sample_rate`` INT32 [-1] out.

Only the voice bundled in the package ("heart", American English) is available, since
hibari downloads its other voices on first use and a server must not reach out. OpenAI's
voice names are accepted and speak with it, so clients written for OpenAI work unchanged.
Synthesis is seeded, so the same text, voice and speed give the same bytes.

Parameters: ``max_characters`` refuses longer texts (OpenAI's limit, 4096, by default).
"""

from __future__ import annotations

import base64
import importlib.metadata
from typing import Any, Final

import numpy as np
from hibari import Hibari

from modelmart.arrays import Array, Batch
from modelmart.errors import UnsupportedFormat
from modelmart.runtimes.audio import wav_bytes
from modelmart.runtimes.base import LoadRequest, Runtime
from modelmart.runtimes.parameters import positive_int_parameter, texts
from modelmart.runtimes.signatures import reconcile
from modelmart.runtimes.speech import (
    BUNDLED_VOICE,
    SPEECH_SIGNATURE,
    SYNTHESIS_RATE,
    check_speech_request,
    max_characters,
)
from modelmart.types import ArtifactFormat, RuntimeName

MODEL_FILE: Final = "assets/hibari.onnx"
SEED: Final = 0


class HibariRuntime(Runtime):
    """Synthesises each text in turn; one ONNX session per instance, on one thread, since a
    batch of sentences gains nothing from more."""

    name = RuntimeName.HIBARI
    label = "hibari"
    _tts: Any = None
    _max_characters: int = 0

    def load(self, request: LoadRequest) -> None:
        if request.format is not ArtifactFormat.PACKAGE:
            raise UnsupportedFormat(
                f"the hibari runtime serves the package reference of the built-in catalogue, "
                f"not a {request.format.value} upload; deploy hibari-tts"
            )
        signature = reconcile(request.signature, SPEECH_SIGNATURE)
        positive_int_parameter(request.parameters, "max_characters")  # refuses a bad value
        tts = Hibari(voice=BUNDLED_VOICE, model=str(request.path / MODEL_FILE), threads=1)
        if tts.sample_rate != SYNTHESIS_RATE:
            raise UnsupportedFormat(
                f"hibari {importlib.metadata.version('hibari-tts')} speaks at "
                f"{tts.sample_rate} Hz, not {SYNTHESIS_RATE}; install hibari-tts==0.2.1"
            )
        self._tts = tts
        self._max_characters = max_characters(request.parameters)
        self._signature = signature

    def predict(self, batch: Batch) -> Batch:
        tts = self._require(self._tts)
        requests = list(
            zip(texts(batch["text"]), texts(batch["voice"]), batch["speed"].ravel(), strict=True)
        )
        for index, (text, voice, speed) in enumerate(requests):
            check_speech_request(text, voice, float(speed), self._max_characters, index)
        waves = [speak(tts, text, float(speed)) for text, _, speed in requests]
        encoded = [base64.b64encode(wav_bytes(wave, SYNTHESIS_RATE)).decode() for wave in waves]
        return {
            "audio": np.array(encoded, dtype=object),
            "duration": np.array([len(w) / SYNTHESIS_RATE for w in waves], dtype=np.float32),
            "sample_rate": np.full(len(waves), SYNTHESIS_RATE, dtype=np.int32),
        }

    def unload(self) -> None:
        self._tts = None
        super().unload()

    @property
    def metadata(self) -> dict[str, Any]:
        version = importlib.metadata.version("hibari-tts")
        return {**super().metadata, "hibari_version": version, "sample_rate": SYNTHESIS_RATE}


def speak(tts: Any, text: str, speed: float) -> Array:
    """``text`` as float32 samples; text with nothing to pronounce gives none."""
    return np.asarray(tts(text, speed=speed, seed=SEED), dtype=np.float32)
