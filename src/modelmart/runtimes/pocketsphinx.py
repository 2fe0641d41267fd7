"""Speech recognition with PocketSphinx: CMU's HMM recogniser with its US English models.

A version is a package reference to the three files the pocketsphinx wheel ships: the
acoustic model (a directory), the trigram language model and the pronouncing dictionary.
Served signature (:data:`~modelmart.runtimes.speech.TRANSCRIPTION_SIGNATURE`): ``audio``
BYTES [-1] in (each item an audio file: raw bytes from the audio routes, or base64 text from
the JSON routes); ``text`` BYTES [-1] (lower-case words),
``duration`` FP32 [-1] (seconds of audio) and ``words`` BYTES [-1] (a JSON list of
``{"word", "start", "end", "probability"}``, times in seconds) out.

Parameters: ``max_audio_seconds`` refuses longer inputs (decoding takes about a fifth of the
audio's duration, and a whole batch waits for its longest item).
"""

from __future__ import annotations

import base64
import binascii
import importlib.metadata
import json
from typing import Any

import numpy as np
from pocketsphinx import Decoder

from modelmart.arrays import Batch
from modelmart.errors import InvalidAudio, UnsupportedFormat
from modelmart.runtimes.audio import Audio, decode_audio, pcm16
from modelmart.runtimes.base import LoadRequest, Runtime
from modelmart.runtimes.parameters import positive_int_parameter
from modelmart.runtimes.signatures import reconcile
from modelmart.runtimes.speech import (
    ACOUSTIC_MODEL,
    DICTIONARY,
    LANGUAGE_MODEL,
    RECOGNITION_RATE,
    TRANSCRIPTION_SIGNATURE,
    max_audio_seconds,
)
from modelmart.types import ArtifactFormat, RuntimeName


class PocketsphinxRuntime(Runtime):
    """Transcribes each audio item in turn with one decoder per instance (a decoder holds
    one utterance at a time)."""

    name = RuntimeName.POCKETSPHINX
    label = "PocketSphinx"
    _decoder: Any = None
    _max_seconds: float | None = None

    def load(self, request: LoadRequest) -> None:
        if request.format is not ArtifactFormat.PACKAGE:
            raise UnsupportedFormat(
                f"the PocketSphinx runtime serves the package reference of the built-in "
                f"catalogue, not a {request.format.value} upload; deploy pocketsphinx-en"
            )
        signature = reconcile(request.signature, TRANSCRIPTION_SIGNATURE)
        positive_int_parameter(request.parameters, "max_audio_seconds")  # refuses a bad value
        self._decoder = Decoder(
            hmm=str(request.path / ACOUSTIC_MODEL),
            lm=str(request.path / LANGUAGE_MODEL),
            dict=str(request.path / DICTIONARY),
            samprate=RECOGNITION_RATE,
            # Normalise each utterance by its own mean rather than a running one, so a
            # transcript does not depend on what the instance heard before.
            cmn="batch",
            loglevel="FATAL",  # its INFO lines would flood the worker's stderr per utterance
        )
        self._max_seconds = max_audio_seconds(request.parameters)
        self._signature = signature

    def predict(self, batch: Batch) -> Batch:
        decoder = self._require(self._decoder)
        items = [self._audio(item, index) for index, item in enumerate(batch["audio"].ravel())]
        transcripts = [transcribe(decoder, audio) for audio in items]
        return {
            "text": np.array([" ".join(w["word"] for w in words) for words in transcripts], object),
            "duration": np.array([audio.duration_s for audio in items], dtype=np.float32),
            "words": np.array([json.dumps(words) for words in transcripts], dtype=object),
        }

    def _audio(self, item: Any, index: int) -> Audio:
        return decode_audio(audio_bytes(item, index), RECOGNITION_RATE, self._max_seconds, "audio")

    def unload(self) -> None:
        self._decoder = None
        super().unload()

    @property
    def metadata(self) -> dict[str, Any]:
        version = importlib.metadata.version("pocketsphinx")
        return {
            **super().metadata,
            "pocketsphinx_version": version,
            "sample_rate": RECOGNITION_RATE,
        }


def audio_bytes(item: Any, index: int) -> bytes:
    """One ``audio`` item as file bytes: raw bytes as they are, text as base64."""
    if isinstance(item, bytes):
        return item
    try:
        return base64.b64decode(str(item), validate=True)
    except binascii.Error as exc:
        raise InvalidAudio(
            f"audio item {index} is text but not base64 ({exc}); send each audio file "
            "base64-encoded",
            details={"param": "audio"},
        ) from exc


def transcribe(decoder: Any, audio: Audio) -> list[dict[str, Any]]:
    """The words ``decoder`` hears in ``audio``, with their times and probabilities."""
    decoder.start_utt()
    decoder.process_raw(pcm16(audio.samples), full_utt=True)
    decoder.end_utt()
    seconds_per_frame = 1.0 / float(decoder.config["frate"])
    return [
        {
            "word": _spelling(segment.word),
            "start": round(segment.start_frame * seconds_per_frame, 2),
            "end": round((segment.end_frame + 1) * seconds_per_frame, 2),
            "probability": round(min(float(segment.prob), 1.0), 4),
        }
        for segment in decoder.seg() or ()
        if not is_filler(segment.word)
    ]


def is_filler(word: str) -> bool:
    """Silence, breath and noise markers (``<s>``, ``<sil>``, ``[NOISE]``) are not words."""
    return word.startswith(("<", "["))


def _spelling(word: str) -> str:
    """``read(2)``, the dictionary's second pronunciation of "read", is spelled "read"."""
    return word.split("(", 1)[0]
