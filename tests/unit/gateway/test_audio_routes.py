"""The OpenAI-compatible audio routes and the audio task routes against fake endpoints:
request parsing, checks before queueing, response formats, usage and errors."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from httpx import ASGITransport, AsyncClient

from modelmart.arrays import Batch
from modelmart.gateway.routes import audio, audio_tasks
from modelmart.runtimes.audio import wav_bytes
from modelmart.runtimes.base import LoadRequest
from modelmart.runtimes.speech import SPEECH_SIGNATURE, TRANSCRIPTION_SIGNATURE
from modelmart.serving.batcher import ClientGone
from modelmart.serving.placement import (
    Endpoint,
    EndpointSpec,
    EndpointStatus,
    Prediction,
    ServedVersion,
)
from modelmart.types import ArtifactFormat, RuntimeName, Signature
from tests.unit.gateway.route_fakes import app_with, energy


class FakeEndpoint(Endpoint):
    def __init__(
        self, name: str, signature: Signature, run: Callable[[Batch], Batch], **parameters: Any
    ) -> None:
        load = LoadRequest(Path("/nonexistent"), ArtifactFormat.PACKAGE, parameters=parameters)
        self.spec = EndpointSpec(name=name, target=ServedVersion(name, 2, RuntimeName.ONNX, load))
        self.signature = signature
        self.run = run
        self.batches: list[Batch] = []

    async def predict(self, inputs: Batch, gone: ClientGone | None = None) -> Prediction:
        self.batches.append(inputs)
        return Prediction(self.run(inputs), self.spec.target.model, self.spec.target.version)

    async def apply(self, spec: EndpointSpec) -> None:
        self.spec = spec

    def status(self) -> EndpointStatus:
        return EndpointStatus(1, 0, 2, 0)

    async def close(self) -> None:
        return None


def hear(batch: Batch) -> Batch:
    """'hello world' for every file, timed across its whole length."""
    durations = [soundfile.info(io.BytesIO(item)).duration for item in batch["audio"]]
    words = [
        json.dumps(
            [
                {"word": "hello", "start": 0.0, "end": d / 4, "probability": 0.9},
                {"word": "world", "start": d / 2, "end": d, "probability": 0.8},
            ]
        )
        for d in durations
    ]
    return {
        "text": np.array(["hello world"] * len(durations), dtype=object),
        "duration": np.array(durations, dtype=np.float32),
        "words": np.array(words, dtype=object),
    }


def speak(batch: Batch) -> Batch:
    """Half a second of tone per text."""
    wav = wav_bytes(tone(0.5, 24000), 24000)
    count = len(batch["text"])
    return {
        "audio": np.array([base64.b64encode(wav).decode()] * count, dtype=object),
        "duration": np.full(count, 0.5, dtype=np.float32),
        "sample_rate": np.full(count, 24000, dtype=np.int32),
    }


def tone(seconds: float, rate: int) -> np.ndarray:
    return (0.3 * np.sin(np.arange(int(seconds * rate)) / 7)).astype(np.float32)


def stereo_wav(seconds: float, rate: int = 44100) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, np.stack([tone(seconds, rate)] * 2, axis=1), rate, format="WAV")
    return buffer.getvalue()


@pytest.fixture
def endpoints() -> dict[str, FakeEndpoint]:
    return {
        "pocketsphinx-en": FakeEndpoint(
            "pocketsphinx-en", TRANSCRIPTION_SIGNATURE, hear, max_audio_seconds=5
        ),
        "hibari-tts": FakeEndpoint("hibari-tts", SPEECH_SIGNATURE, speak, max_characters=40),
    }


@pytest.fixture
async def http(endpoints: dict[str, FakeEndpoint]) -> AsyncIterator[AsyncClient]:
    app = app_with(endpoints, modules=(audio, audio_tasks))
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://modelmart") as client:
        yield client


async def transcribe(http: AsyncClient, data: bytes, **fields: str) -> Any:
    form = {"model": "pocketsphinx-en", **fields}
    return await http.post("/v1/audio/transcriptions", files={"file": ("a.wav", data)}, data=form)


async def test_uploads_reach_the_model_as_mono_wav_at_its_rate(
    http: AsyncClient, endpoints: dict[str, FakeEndpoint]
) -> None:
    response = await transcribe(http, stereo_wav(2.0))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "text": "hello world",
        "usage": {"type": "duration", "seconds": 2.0, **energy(0)},
    }
    (sent,) = endpoints["pocketsphinx-en"].batches[0]["audio"]
    info = soundfile.info(io.BytesIO(sent))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")


async def test_every_transcript_format(http: AsyncClient) -> None:
    data = stereo_wav(2.0)
    text = await transcribe(http, data, response_format="text")
    assert (text.text, text.headers["content-type"]) == (
        "hello world\n",
        "text/plain; charset=utf-8",
    )
    srt = await transcribe(http, data, response_format="srt")
    assert srt.text.startswith("1\n00:00:00,000 --> 00:00:00,500\nhello\n\n2\n")
    vtt = await transcribe(http, data, response_format="vtt")
    assert vtt.text.startswith("WEBVTT\n")
    assert vtt.headers["content-type"].startswith("text/vtt")
    verbose = await http.post(
        "/v1/audio/transcriptions",
        files={"file": ("a.wav", data)},
        data={
            "model": "pocketsphinx-en",
            "response_format": "verbose_json",
            "timestamp_granularities[]": ["word", "segment"],
            "language": "en-US",
        },
    )
    body = verbose.json()
    assert [w["word"] for w in body["words"]] == ["hello", "world"]
    assert [s["text"] for s in body["segments"]] == ["hello", "world"]
    assert body["usage"] == {"type": "duration", "seconds": 2.0, **energy(0)}


@pytest.mark.parametrize(
    ("fields", "param", "words"),
    [
        ({"response_format": "diarized_json"}, "response_format", "not supported"),
        ({"language": "fr"}, "language", "transcribe English"),
        ({"stream": "true"}, "stream", "streaming is not supported"),
        ({"model": ""}, "model", "'model' is missing"),
    ],
)
async def test_bad_transcription_fields(
    http: AsyncClient, fields: dict[str, str], param: str, words: str
) -> None:
    response = await transcribe(http, stereo_wav(0.5), **fields)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["type"]) == (param, "invalid_request_error")
    assert words in error["message"]


async def test_bad_audio_is_refused_before_it_queues(
    http: AsyncClient, endpoints: dict[str, FakeEndpoint]
) -> None:
    empty = await transcribe(http, b"")
    assert (empty.status_code, empty.json()["error"]["code"]) == (400, "invalid_audio")
    text = await transcribe(http, b"just some text, not audio")
    assert "not an audio file" in text.json()["error"]["message"]
    long = await transcribe(http, stereo_wav(6.0, 8000))
    assert long.json()["error"]["code"] == "audio_too_long"
    assert "limit of 5 s" in long.json()["error"]["message"]
    missing = await http.post("/v1/audio/transcriptions", data={"model": "pocketsphinx-en"})
    assert missing.json()["error"]["param"] == "file"
    assert endpoints["pocketsphinx-en"].batches == []


async def test_models_that_are_missing_or_cannot_do_the_task(http: AsyncClient) -> None:
    absent = await transcribe(http, stereo_wav(0.5), model="whisper-1")
    assert absent.status_code == 404
    assert absent.json()["error"]["code"] == "model_not_found"
    wrong = await transcribe(http, stereo_wav(0.5), model="hibari-tts")
    assert wrong.status_code == 400
    assert "deployed models that fit: ['pocketsphinx-en']" in wrong.json()["error"]["message"]


async def test_speech_defaults_to_wav_and_reports_characters(
    http: AsyncClient, endpoints: dict[str, FakeEndpoint]
) -> None:
    body = {"model": "hibari-tts", "input": "Hello there.", "voice": "alloy", "speed": 1.5}
    response = await http.post("/v1/audio/speech", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    assert response.headers["x-usage-characters"] == "12"
    assert response.headers["x-audio-duration"] == "0.500"
    assert soundfile.info(io.BytesIO(response.content)).duration == pytest.approx(0.5)
    batch = endpoints["hibari-tts"].batches[0]
    assert (list(batch["voice"]), batch["speed"].tolist()) == (["alloy"], [1.5])


@pytest.mark.parametrize(
    ("audio_format", "media_type"),
    [("flac", "audio/flac"), ("opus", "audio/ogg"), ("pcm", "audio/pcm")],
)
async def test_speech_formats(http: AsyncClient, audio_format: str, media_type: str) -> None:
    body = {"model": "hibari-tts", "input": "Hi.", "response_format": audio_format}
    response = await http.post("/v1/audio/speech", json=body)
    assert response.headers["content-type"] == media_type
    if audio_format == "pcm":
        assert len(response.content) == 2 * 12000  # 0.5 s of 16-bit samples at 24 kHz
    else:
        assert soundfile.info(io.BytesIO(response.content)).duration == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize(
    ("change", "param", "words"),
    [
        ({"response_format": "mp3"}, "response_format", "choose one of wav, flac, opus, pcm"),
        ({"input": " "}, "input", "blank"),
        ({"input": "x" * 41}, "input", "limit of 40"),
        ({"voice": "emma"}, "voice", "not available"),
        ({"speed": 4.0}, "speed", "out of range"),
        ({"model": "pocketsphinx-en"}, "model", "cannot do speech synthesis"),
        ({"pitch": 2}, "pitch", "Extra inputs are not permitted"),
    ],
)
async def test_bad_speech_requests(
    http: AsyncClient,
    endpoints: dict[str, FakeEndpoint],
    change: dict[str, Any],
    param: str,
    words: str,
) -> None:
    response = await http.post(
        "/v1/audio/speech", json={"model": "hibari-tts", "input": "Hi."} | change
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert words in response.json()["error"]["message"]
    assert endpoints["hibari-tts"].batches == []


async def test_transcription_task_takes_base64_json(http: AsyncClient) -> None:
    encoded = base64.b64encode(stereo_wav(1.0)).decode()
    response = await http.post("/v1/tasks/transcription", json={"input": [encoded, encoded]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["version"]) == ("pocketsphinx-en", 2)
    assert body["usage"] == {"items": 2, "audio_seconds": 2.0, **energy(0)}
    first = body["results"][0]
    assert first["text"] == "hello world"
    assert first["duration"] == 1.0
    assert first["segments"] == [{"start": 0.0, "end": 1.0, "text": "hello world"}]
    assert first["words"][1] == {"word": "world", "start": 0.5, "end": 1.0, "probability": 0.8}
    single = await http.post("/v1/tasks/transcription", json={"input": encoded})
    assert single.json()["usage"]["items"] == 1


async def test_transcription_task_takes_multipart_uploads(http: AsyncClient) -> None:
    files = [("file", ("a.wav", stereo_wav(1.0))), ("file", ("b.wav", stereo_wav(0.5)))]
    response = await http.post("/v1/tasks/transcription", files=files)
    assert response.status_code == 200, response.text
    assert response.json()["usage"] == {"items": 2, "audio_seconds": 1.5, **energy(0)}


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ({"input": "not base64!"}, "invalid_request", "is not base64"),
        ({"input": []}, "invalid_request", "no audio was sent"),
        ({"input": ["UklGRg=="] * 33}, "invalid_request", "at most 32"),
        ({"inputs": "x"}, "invalid_request", "does not match the API"),
        ({"input": base64.b64encode(b"").decode() or "AAAA"}, "invalid_audio", "not an audio"),
        ({"model": "nope", "input": "AAAA"}, "deployment_not_found", "named 'nope' is serving"),
    ],
)
async def test_transcription_task_errors_use_modelmart_shape(
    http: AsyncClient, body: dict[str, Any], code: str, words: str
) -> None:
    response = await http.post("/v1/tasks/transcription", json=body)
    assert 400 <= response.status_code < 500
    error = response.json()["error"]
    assert error["code"] == code
    assert words in error["message"]


async def test_speech_task_returns_base64_files(http: AsyncClient) -> None:
    body = {"input": ["Hello.", "Goodbye."], "response_format": "flac"}
    response = await http.post("/v1/tasks/speech", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["usage"] == {"items": 2, "characters": 14, **energy(0)}
    assert [r["format"] for r in answer["results"]] == ["flac", "flac"]
    flac = base64.b64decode(answer["results"][0]["audio"])
    assert soundfile.info(io.BytesIO(flac)).format == "FLAC"
    wrong = await http.post("/v1/tasks/speech", json={"input": "Hi.", "response_format": "aac"})
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (400, "invalid_request")
    blank = await http.post("/v1/tasks/speech", json={"input": ["Hi.", " "]})
    assert "item 1" in blank.json()["error"]["message"]
