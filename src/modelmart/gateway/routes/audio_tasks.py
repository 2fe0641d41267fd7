"""Audio task routes, in the style of :mod:`modelmart.gateway.routes.tasks`:
``POST /v1/tasks/transcription`` and ``POST /v1/tasks/speech``.

Both answer ``{"model", "version", "results": [one per input], "usage"}`` with ModelMart's
error shape. Transcription takes audio files as base64 text in JSON (``{"model", "input":
str | list[str]}``) or as multipart uploads (one or more ``file`` parts and an optional
``model`` field); its usage counts ``audio_seconds``. Speech takes ``{"model", "input": str |
list[str], "voice", "speed", "response_format"}`` and returns each file base64-encoded; its
usage counts ``characters``. Both bill (:mod:`modelmart.gateway.metering`); their default
models, like named ones, are the caller's own deployments of that name if it has them, else
the platform's.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.responses import Response

from modelmart.errors import InvalidRequest
from modelmart.gateway.audio_models import (
    SPEECH,
    TRANSCRIPTION,
    decode_base64_audio,
    synthesize,
    transcribe,
)
from modelmart.gateway.energy import energy_usage
from modelmart.gateway.metering import Caller, MeteredRoute
from modelmart.gateway.responses import FastJSONResponse
from modelmart.gateway.services import Services, get_services
from modelmart.gateway.text_models import TEXTS_SCHEMA, read_texts
from modelmart.gateway.transcripts import Transcript
from modelmart.gateway.usage import report_usage
from modelmart.runtimes.audio import WRITABLE, transcode
from modelmart.runtimes.speech import BUNDLED_VOICE

router = APIRouter(prefix="/v1/tasks", tags=["tasks"], route_class=MeteredRoute)
ServicesDep = Annotated[Services, Depends(get_services)]

DEFAULT_RECOGNITION_MODEL: Final = "pocketsphinx-en"
DEFAULT_SPEECH_MODEL: Final = "hibari-tts"
MAX_AUDIO_ITEMS: Final = 32
"""Files per transcription request: a batch waits for its longest file."""


_AUDIO_FILE: dict[str, Any] = {"type": "string", "minLength": 1}
_AUDIO_FILES: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_AUDIO_ITEMS,
    "items": _AUDIO_FILE,
}


class TranscriptionTask(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(default=DEFAULT_RECOGNITION_MODEL, min_length=1)
    input: str | list[str] = Field(
        description="an audio file, or a list, base64-encoded",
        json_schema_extra={"anyOf": [_AUDIO_FILE, _AUDIO_FILES]},
    )


class SpeechTask(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"input": ["Hello there."], "voice": "heart"}]},
    )

    model: str = Field(default=DEFAULT_SPEECH_MODEL, min_length=1)
    input: str | list[Any] = Field(
        description="a text or a list of texts", json_schema_extra=TEXTS_SCHEMA
    )
    voice: str = BUNDLED_VOICE
    speed: float = 1.0
    response_format: str = Field(
        default="wav",
        description=f"one of {', '.join(WRITABLE)}",
        json_schema_extra={"enum": list(WRITABLE)},
    )


@router.post(
    "/transcription",
    summary="Transcribe audio files: base64 JSON or multipart upload",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": TranscriptionTask.model_json_schema()},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "model": {"type": "string", "example": DEFAULT_RECOGNITION_MODEL},
                        },
                    }
                },
            }
        }
    },
)
async def transcription_task(
    request: Request, principal: Caller, services: ServicesDep
) -> Response:
    model, files = await _read_audio_request(request)
    endpoint = TRANSCRIPTION.endpoint(services.router, principal, model)
    transcripts, prediction = await transcribe(endpoint, files, "input", request.is_disconnected)
    seconds = round(sum(transcript.duration for transcript in transcripts), 3)
    usage = {
        "items": len(transcripts),
        "audio_seconds": seconds,
        **energy_usage(request, prediction.energy_uj),
    }
    report_usage(request, prediction.model, prediction.version, usage)
    return FastJSONResponse(
        {
            "model": prediction.model,
            "version": prediction.version,
            "results": [_transcript_result(transcript) for transcript in transcripts],
            "usage": usage,
        }
    )


async def _read_audio_request(request: Request) -> tuple[str, list[bytes]]:
    """The model and the audio files of a JSON or multipart transcription request."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        async with request.form() as form:  # closes the spooled uploads when done
            uploads = [item for item in form.getlist("file") if isinstance(item, UploadFile)]
            model = form.get("model")
            files = [await upload.read() for upload in uploads]
        name = model if isinstance(model, str) and model else DEFAULT_RECOGNITION_MODEL
    else:
        body = _parse_json(await request.body())
        items = [body.input] if isinstance(body.input, str) else body.input
        files = [decode_base64_audio(item, "input") for item in items]
        name = body.model
    if not files:
        raise InvalidRequest(
            "no audio was sent; send {'input': <base64 audio file or list of them>} as JSON, "
            "or upload files as multipart 'file' parts",
            details={"param": "input"},
        )
    if len(files) > MAX_AUDIO_ITEMS:
        raise InvalidRequest(
            f"{len(files)} audio files were sent; at most {MAX_AUDIO_ITEMS} fit in one "
            "request, send the rest in further requests",
            details={"param": "input"},
        )
    return name, files


def _parse_json(raw: bytes) -> TranscriptionTask:
    try:
        return TranscriptionTask.model_validate_json(raw)
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()]
        raise InvalidRequest(
            "the request does not match the API: "
            + "; ".join(problems)
            + " (send JSON, or multipart/form-data with 'file' parts)",
            details={"problems": problems},
        ) from exc


def _transcript_result(transcript: Transcript) -> dict[str, Any]:
    return {
        "text": transcript.text,
        "duration": round(transcript.duration, 3),
        "segments": [
            {"start": s.start, "end": s.end, "text": s.text} for s in transcript.segments()
        ],
        "words": [
            {"word": w.word, "start": w.start, "end": w.end, "probability": w.probability}
            for w in transcript.words
        ],
    }


@router.post("/speech", summary="Speak texts: base64 audio files in JSON")
async def speech_task(
    body: SpeechTask, request: Request, principal: Caller, services: ServicesDep
) -> Response:
    texts = read_texts(body.input)
    if body.response_format not in WRITABLE:
        raise InvalidRequest(
            f"response_format {body.response_format!r} is not available; choose one of "
            f"{', '.join(WRITABLE)}",
            details={"param": "response_format"},
        )
    endpoint = SPEECH.endpoint(services.router, principal, body.model)
    spoken, prediction = await synthesize(
        endpoint, texts, body.voice, body.speed, request.is_disconnected
    )
    files = await asyncio.to_thread(
        lambda: [transcode(speech.wav, body.response_format) for speech in spoken]
    )
    usage = {
        "items": len(texts),
        "characters": sum(len(text) for text in texts),
        **energy_usage(request, prediction.energy_uj),
    }
    report_usage(request, prediction.model, prediction.version, usage)
    results = [
        {
            "audio": base64.b64encode(data).decode("ascii"),
            "format": body.response_format,
            "duration": round(speech.duration, 3),
        }
        for data, speech in zip(files, spoken, strict=True)
    ]
    return FastJSONResponse(
        {
            "model": prediction.model,
            "version": prediction.version,
            "results": results,
            "usage": usage,
        }
    )
