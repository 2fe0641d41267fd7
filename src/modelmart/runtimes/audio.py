"""Audio files in and out, shared by the speech runtimes and the audio routes.

Decoding sniffs the container from the first bytes (WAV, FLAC, Ogg, MP3: what libsndfile
reads), refuses an empty file, a file of another kind or one longer than the model allows
before decoding it, mixes to mono and resamples to the model's rate. Every refusal is an
:class:`~modelmart.errors.InvalidAudio` whose message says what to send instead.

The audio routes decode once, in the gateway, so a bad file is refused before it queues; they
hand the model a 16-bit WAV at the model's own rate (:func:`wav_bytes`), which the runtime
decodes again at the cost of a copy. 16-bit PCM is half the bytes of float32 samples on the
pipe to a worker and loses nothing a 16-bit recording held.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import soundfile

from modelmart.arrays import Array
from modelmart.errors import AudioTooLong, InvalidAudio, InvalidRequest

READABLE: Final = ("wav", "flac", "ogg", "mp3")
"""Containers :func:`decode_audio` accepts (Ogg holding Vorbis or Opus)."""

WRITABLE: Final = {
    "wav": "audio/wav",
    "flac": "audio/flac",
    "opus": "audio/ogg",
    "pcm": "audio/pcm",
}
"""Formats :func:`encode_audio` writes, with their media types. ``pcm`` is raw 16-bit
little-endian mono samples, as OpenAI's speech route returns them. No MP3: the only encoder
at hand (LAME, inside libsndfile) is LGPL."""

_SEND = "send a WAV, FLAC, Ogg (Vorbis/Opus) or MP3 file"
_OPUS_RATES: Final = (8000, 12000, 16000, 24000, 48000)


@dataclass(frozen=True)
class Audio:
    """Mono float32 samples in [-1, 1] at ``sample_rate`` Hz."""

    samples: Array
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


def sniff_format(data: bytes) -> str | None:
    """The container of ``data`` from its magic bytes: one of :data:`READABLE`, or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"fLaC":
        return "flac"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"  # an ID3 tag, or an MPEG audio frame's 11 sync bits
    return None


def decode_audio(
    data: bytes, sample_rate: int, max_seconds: float | None = None, param: str = "file"
) -> Audio:
    """``data`` (an audio file's bytes) as mono samples at ``sample_rate``.

    Raises :class:`InvalidAudio` for an empty or unreadable file and :class:`AudioTooLong`
    when it lasts more than ``max_seconds``; ``param`` names the request field in both.
    """
    where = {"param": param}
    if not data:
        raise InvalidAudio(f"{param!r} is empty (0 bytes); {_SEND}", details=where)
    kind = sniff_format(data)
    if kind is None:
        raise InvalidAudio(
            f"{param!r} is not an audio file this server reads (it starts with "
            f"{data[:8]!r}); {_SEND}",
            details={**where, "readable": list(READABLE)},
        )
    try:
        with soundfile.SoundFile(io.BytesIO(data)) as source:
            _check_duration(source.frames / source.samplerate, max_seconds, param)
            rate = int(source.samplerate)
            samples = source.read(dtype="float32", always_2d=True)
    except soundfile.LibsndfileError as exc:
        raise InvalidAudio(
            f"{param!r} looks like {kind.upper()} but could not be decoded ({exc.error_string}); "
            f"check that the file is complete, or {_SEND}",
            details=where,
        ) from exc
    if samples.shape[0] == 0:
        raise InvalidAudio(f"{param!r} holds no audio samples; {_SEND}", details=where)
    decoded = Audio(resample(samples.mean(axis=1), rate, sample_rate), sample_rate)
    _check_duration(decoded.duration_s, max_seconds, param)  # frame counts of MP3 are estimates
    return decoded


def _check_duration(seconds: float, max_seconds: float | None, param: str) -> None:
    if max_seconds is not None and seconds > max_seconds:
        raise AudioTooLong(
            f"{param!r} lasts {seconds:.1f} s, longer than this model's limit of "
            f"{max_seconds:g} s; split it into shorter pieces",
            details={"param": param, "seconds": round(seconds, 3), "max_seconds": max_seconds},
        )


def resample(samples: Array, source_rate: int, target_rate: int) -> Array:
    """``samples`` at ``target_rate``, by polyphase filtering (no change when rates match)."""
    if source_rate == target_rate:
        return np.ascontiguousarray(samples, dtype=np.float32)
    # Imported here: scipy.signal takes over a second to import, which every server start
    # would pay; only the first upload at another rate does.
    from scipy.signal import resample_poly

    divisor = math.gcd(source_rate, target_rate)
    resampled = resample_poly(samples, target_rate // divisor, source_rate // divisor)
    return np.asarray(resampled, dtype=np.float32)


def pcm16(samples: Array) -> bytes:
    """Float samples as 16-bit little-endian PCM, clipped to [-1, 1]."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def wav_bytes(samples: Array, sample_rate: int) -> bytes:
    """A 16-bit mono WAV file of ``samples``."""
    return encode_audio(samples, sample_rate, "wav")


def encode_audio(samples: Array, sample_rate: int, audio_format: str) -> bytes:
    """``samples`` as a file of ``audio_format``, one of :data:`WRITABLE`."""
    if audio_format not in WRITABLE:
        raise InvalidRequest(
            f"audio format {audio_format!r} is not supported; choose one of {', '.join(WRITABLE)}",
            details={"param": "response_format"},
        )
    if audio_format == "pcm":
        return pcm16(samples)
    if audio_format == "opus" and sample_rate not in _OPUS_RATES:
        samples = resample(samples, sample_rate, 48000)
        sample_rate = 48000
    container, subtype = {
        "wav": ("WAV", "PCM_16"),
        "flac": ("FLAC", "PCM_16"),
        "opus": ("OGG", "OPUS"),
    }[audio_format]
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, sample_rate, format=container, subtype=subtype)
    return buffer.getvalue()


def transcode(wav: bytes, audio_format: str) -> bytes:
    """A WAV file re-encoded as ``audio_format`` (:data:`WRITABLE`); WAV passes through."""
    if audio_format == "wav":
        return wav
    if audio_format == "pcm":  # the WAV's own 16-bit samples, not a float round trip
        pcm, _ = soundfile.read(io.BytesIO(wav), dtype="int16")
        return np.asarray(pcm, dtype="<i2").tobytes()
    samples, rate = soundfile.read(io.BytesIO(wav), dtype="float32")
    return encode_audio(np.asarray(samples), int(rate), audio_format)
