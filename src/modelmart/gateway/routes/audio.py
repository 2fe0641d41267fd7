"""OpenAI-compatible audio routes: ``POST /v1/audio/transcriptions`` (speech to text) and
``POST /v1/audio/speech`` (text to speech).

The official SDKs work unchanged: ``client.audio.transcriptions.create(model=..., file=...)``
with any ``response_format`` but ``diarized_json``, and ``client.audio.speech.create(model=...,
voice=..., input=...)``. Differences from OpenAI, each answered with a clear 400: speech comes
as ``wav`` (the default when none is asked for), ``flac``, ``opus`` or ``pcm`` (no MP3 or AAC
encoder with a permissive licence is at hand); transcription is English and not streamed.
Usage: ``usage`` ``{"type": "duration", "seconds"}`` in transcription bodies, the
``X-Usage-Characters`` header on speech. Both bill (:mod:`modelmart.gateway.metering`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import FormData, UploadFile
from starlette.responses import PlainTextResponse, Response

from modelmart.errors import InvalidRequest
from modelmart.gateway.audio_models import SPEECH, TRANSCRIPTION, synthesize, transcribe
from modelmart.gateway.energy import energy_usage
from modelmart.gateway.metering import Caller, MeteredOpenAIRoute
from modelmart.gateway.responses import FastJSONResponse
from modelmart.gateway.services import Services, get_services
from modelmart.gateway.transcripts import Transcript, json_body, srt, verbose_body, vtt
from modelmart.gateway.usage import report_usage
from modelmart.runtimes.audio import WRITABLE, transcode
from modelmart.runtimes.speech import BUNDLED_VOICE

router = APIRouter(prefix="/v1/audio", tags=["openai-compatible"], route_class=MeteredOpenAIRoute)
ServicesDep = Annotated[Services, Depends(get_services)]

TRANSCRIPT_FORMATS: Final = ("json", "text", "srt", "verbose_json", "vtt")
ENGLISH: Final = ("en", "english")
DEFAULT_SPEECH_FORMAT: Final = "wav"
USAGE_HEADER: Final = "X-Usage-Characters"


@dataclass(frozen=True)
class TranscriptionForm:
    """The multipart fields of a transcription request that change the answer; the rest
    (``prompt``, ``temperature``, ``include[]``, ...) are accepted and ignored."""

    file: UploadFile
    model: str
    response_format: str
    words: bool
    segments: bool

    @classmethod
    def read(cls, form: FormData) -> TranscriptionForm:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise _form_error("file", "'file' is missing; upload the audio as a multipart file")
        model = form.get("model")
        if not isinstance(model, str) or not model:
            raise _form_error("model", "'model' is missing; name a deployment, as GET /v1/models")
        response_format = str(form.get("response_format") or "json")
        if response_format not in TRANSCRIPT_FORMATS:
            raise _form_error(
                "response_format",
                f"response_format {response_format!r} is not supported; choose one of "
                f"{', '.join(TRANSCRIPT_FORMATS)}",
            )
        _check_options(form)
        granularities = {str(g) for g in form.getlist("timestamp_granularities[]")}
        granularities |= {str(g) for g in form.getlist("timestamp_granularities")}
        return cls(
            file=upload,
            model=model,
            response_format=response_format,
            words="word" in granularities,
            segments="segment" in granularities or not granularities,
        )


def _check_options(form: FormData) -> None:
    language = str(form.get("language") or "en").lower()
    if language.split("-")[0] not in ENGLISH:
        raise _form_error(
            "language",
            f"language {language!r} is not supported; the catalogue's recognition models "
            "transcribe English (send language=en or leave it out)",
        )
    if str(form.get("stream") or "false").lower() == "true":
        raise _form_error("stream", "streaming is not supported; send stream=false")


def _form_error(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, details={"param": param})


@router.post(
    "/transcriptions",
    summary="Transcribe an audio file (multipart: file, model, response_format, ...)",
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file", "model"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "model": {"type": "string", "example": "pocketsphinx-en"},
                            "response_format": {"type": "string", "enum": list(TRANSCRIPT_FORMATS)},
                            "language": {"type": "string", "example": "en"},
                        },
                    }
                }
            }
        }
    },
)
async def create_transcription(
    request: Request, principal: Caller, services: ServicesDep
) -> Response:
    """Transcribe one WAV, FLAC, Ogg or MP3 file with a recognition deployment."""
    async with request.form() as form:  # closes the spooled upload when done
        fields = TranscriptionForm.read(form)
        endpoint = TRANSCRIPTION.endpoint(services.router, principal, fields.model)
        data = await fields.file.read()
    transcripts, prediction = await transcribe(endpoint, [data], "file", request.is_disconnected)
    transcript = transcripts[0]
    energy = energy_usage(request, prediction.energy_uj)
    units = {"items": 1, "audio_seconds": round(transcript.duration, 3), **energy}
    report_usage(request, prediction.model, prediction.version, units)
    return _transcript_response(transcript, fields, energy)


def _transcript_response(
    transcript: Transcript, fields: TranscriptionForm, energy: dict[str, Any]
) -> Response:
    """The transcript in the asked format; its energy in the JSON usage (text formats carry
    it in headers, added by the metered route)."""
    if fields.response_format == "json":
        body = json_body(transcript)
        return FastJSONResponse({**body, "usage": {**body["usage"], **energy}})
    if fields.response_format == "verbose_json":
        body = verbose_body(transcript, words=fields.words, segments=fields.segments)
        return FastJSONResponse({**body, "usage": {**body["usage"], **energy}})
    if fields.response_format == "srt":
        return PlainTextResponse(srt(transcript))
    if fields.response_format == "vtt":
        return PlainTextResponse(vtt(transcript), media_type="text/vtt")
    return PlainTextResponse(transcript.text + "\n")


class SpeechRequest(BaseModel):
    """OpenAI's speech request."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"model": "hibari-tts", "input": "Hello there.", "voice": "alloy"}]
        },
    )

    model: str = Field(min_length=1, description="a deployment name, as GET /v1/models lists")
    input: str = Field(description="the text to speak")
    voice: str = Field(default=BUNDLED_VOICE, description="a voice name the model accepts")
    # OpenAI's formats are all accepted here, so that the refusal of the ones this server
    # cannot write says why; the schema names the ones it writes.
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] | None = Field(
        default=None,
        description="wav when omitted; mp3 and aac are not available",
        json_schema_extra={"anyOf": [{"enum": list(WRITABLE)}, {"type": "null"}]},
    )
    speed: float = Field(default=1.0, description="1.0 is the voice's normal pace")
    instructions: str | None = Field(default=None, description="accepted and ignored")
    stream_format: Literal["audio"] | None = Field(
        default=None, description="audio only: the whole file in one response"
    )


@router.post("/speech", summary="Speak a text: audio bytes in the requested format")
async def create_speech(
    body: SpeechRequest, request: Request, principal: Caller, services: ServicesDep
) -> Response:
    """Synthesise ``input`` with a speech deployment; the body is the audio file itself."""
    audio_format = _speech_format(body.response_format)
    endpoint = SPEECH.endpoint(services.router, principal, body.model)
    spoken, prediction = await synthesize(
        endpoint, [body.input], body.voice, body.speed, request.is_disconnected
    )
    audio = await asyncio.to_thread(transcode, spoken[0].wav, audio_format)
    characters = len(body.input)
    units = {"items": 1, "characters": characters, **energy_usage(request, prediction.energy_uj)}
    report_usage(request, prediction.model, prediction.version, units)
    headers = {USAGE_HEADER: str(characters), "X-Audio-Duration": f"{spoken[0].duration:.3f}"}
    return Response(audio, media_type=WRITABLE[audio_format], headers=headers)


def _speech_format(requested: str | None) -> str:
    audio_format = requested or DEFAULT_SPEECH_FORMAT
    if audio_format not in WRITABLE:
        raise InvalidRequest(
            f"response_format {audio_format!r} is not available on this server (no encoder "
            f"with a permissive licence); choose one of {', '.join(WRITABLE)}",
            details={"param": "response_format", "formats": list(WRITABLE)},
        )
    return audio_format
