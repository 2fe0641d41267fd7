"""Audio in or out: finding a deployment that can transcribe or speak, checking a request
before it joins a batch, and running it. Shared by the OpenAI-compatible audio routes and the
audio task routes.

Checks happen here, in the gateway, because a batch fails as a whole: an undecodable file or
an unknown voice refused inside the worker would also fail every request batched with it.
Uploads are decoded once here (off the event loop), which also measures their duration, and
travel to the worker as 16-bit WAV at the model's rate (see :mod:`modelmart.runtimes.audio`).
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass

import numpy as np

from modelmart.errors import InvalidRequest
from modelmart.gateway.text_models import fitting, model_endpoint
from modelmart.gateway.transcripts import Transcript, transcripts_of
from modelmart.runtimes.audio import decode_audio, wav_bytes
from modelmart.runtimes.speech import (
    RECOGNITION_RATE,
    check_speech_request,
    max_audio_seconds,
    max_characters,
)
from modelmart.serving.batcher import ClientGone
from modelmart.serving.placement import Endpoint, Prediction
from modelmart.serving.router import Router
from modelmart.serving.validation import conform_batch
from modelmart.tenancy import Principal
from modelmart.types import Datatype, Signature


@dataclass(frozen=True)
class AudioModelKind:
    """The deployments that can do one audio task: exactly ``inputs`` (name -> datatype) in,
    at least ``outputs`` out. ``examples`` are catalogue models of this kind."""

    task: str
    inputs: dict[str, Datatype]
    outputs: tuple[str, ...]
    examples: tuple[str, ...]

    def fits(self, signature: Signature) -> bool:
        inputs = {spec.name: spec.datatype for spec in signature.inputs}
        returned = {spec.name for spec in signature.outputs}
        return inputs == self.inputs and returned.issuperset(self.outputs)

    def endpoint(self, router: Router, principal: Principal, name: str) -> Endpoint:
        """The deployment ``name`` as ``principal`` may use it: 404 when there is none, 400
        when it cannot do this task."""
        endpoint = model_endpoint(router, principal, name)
        if not self.fits(endpoint.signature):
            fit = fitting(router, principal, self.fits)
            raise InvalidRequest(
                f"model {name!r} cannot do {self.task}; deploy a model that can, such as "
                f"{' or '.join(self.examples)}; deployed models that fit: {fit or 'none'}",
                details={"param": "model", "fitting": fit},
            )
        return endpoint


TRANSCRIPTION = AudioModelKind(
    "transcription", {"audio": Datatype.BYTES}, ("text", "duration"), ("pocketsphinx-en",)
)
SPEECH = AudioModelKind(
    "speech synthesis",
    {"text": Datatype.BYTES, "voice": Datatype.BYTES, "speed": Datatype.FP32},
    ("audio",),
    ("hibari-tts",),
)


def decode_base64_audio(value: str, param: str) -> bytes:
    """An audio file sent as base64 text in a JSON body."""
    try:
        return base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise InvalidRequest(
            f"{param!r} is not base64 ({exc}); send each audio file base64-encoded",
            details={"param": param},
        ) from exc


async def transcribe(
    endpoint: Endpoint, files: list[bytes], param: str, gone: ClientGone
) -> tuple[list[Transcript], Prediction]:
    """Transcripts of ``files`` (audio files' bytes), refused before queueing when one is
    empty, unreadable or longer than the model allows."""
    parameters = endpoint.spec.target.load.parameters
    limit = max_audio_seconds(parameters)
    rate = int(parameters.get("sample_rate", RECOGNITION_RATE))

    def prepare() -> list[bytes]:
        decoded = [decode_audio(data, rate, limit, param) for data in files]
        return [wav_bytes(audio.samples, audio.sample_rate) for audio in decoded]

    column = np.empty(len(files), dtype=object)
    column[:] = await asyncio.to_thread(prepare)  # element-wise: bytes must stay bytes
    batch = conform_batch(endpoint.signature, {"audio": column})
    prediction = await endpoint.predict(batch, gone)
    return transcripts_of(prediction.outputs), prediction


@dataclass(frozen=True)
class Speech:
    """One synthesised text: a WAV file and its length."""

    wav: bytes
    duration: float


async def synthesize(
    endpoint: Endpoint, texts: list[str], voice: str, speed: float, gone: ClientGone
) -> tuple[list[Speech], Prediction]:
    """``texts`` spoken by ``endpoint``; a blank or over-long text, an unknown voice or a
    speed out of range is refused before queueing."""
    limit = max_characters(endpoint.spec.target.load.parameters)
    for index, text in enumerate(texts):
        check_speech_request(text, voice, speed, limit, index if len(texts) > 1 else None)
    batch = {
        "text": np.array(texts, dtype=object),
        "voice": np.array([voice] * len(texts), dtype=object),
        "speed": np.full(len(texts), speed, dtype=np.float32),
    }
    prediction = await endpoint.predict(conform_batch(endpoint.signature, batch), gone)
    outputs = prediction.outputs
    durations = outputs.get("duration", np.zeros(len(texts)))
    spoken = [
        Speech(base64.b64decode(audio), float(duration))
        for audio, duration in zip(outputs["audio"].ravel(), durations.ravel(), strict=True)
    ]
    return spoken, prediction
