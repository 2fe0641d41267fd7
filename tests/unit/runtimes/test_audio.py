"""Decoding, limits and encoding of audio files, on tones written in memory."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile

from modelmart.errors import AudioTooLong, InvalidAudio, InvalidRequest
from modelmart.runtimes.audio import (
    WRITABLE,
    decode_audio,
    encode_audio,
    pcm16,
    resample,
    sniff_format,
    transcode,
    wav_bytes,
)


def tone(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    time = np.arange(int(seconds * rate)) / rate
    wave = (0.5 * np.sin(2 * np.pi * 440 * time)).astype(np.float32)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


def written(samples: np.ndarray, rate: int, container: str, subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format=container, subtype=subtype)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("container", "subtype", "kind"),
    [
        ("WAV", "PCM_16", "wav"),
        ("FLAC", "PCM_16", "flac"),
        ("OGG", "VORBIS", "ogg"),
        ("OGG", "OPUS", "ogg"),
        ("MP3", "MPEG_LAYER_III", "mp3"),
    ],
)
def test_every_readable_container_decodes_to_mono_at_the_model_rate(
    container: str, subtype: str, kind: str
) -> None:
    data = written(tone(1.0, 48000, channels=2), 48000, container, subtype)
    assert sniff_format(data) == kind
    audio = decode_audio(data, 16000)
    assert audio.sample_rate == 16000
    assert audio.samples.dtype == np.float32
    assert audio.samples.ndim == 1
    assert audio.duration_s == pytest.approx(1.0, abs=0.1)  # MP3 and Opus pad a little
    assert 0.3 < np.abs(audio.samples).max() < 0.7


def test_wav_at_the_model_rate_is_read_without_resampling() -> None:
    samples = tone(0.25, 16000)
    audio = decode_audio(wav_bytes(samples, 16000), 16000)
    assert np.allclose(audio.samples, samples, atol=1 / 32767)


def test_an_id3_tag_marks_mp3() -> None:
    assert sniff_format(b"ID3\x04\x00rest") == "mp3"
    assert sniff_format(b"RIFF\x00\x00\x00\x00AVI ") is None


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", r"empty \(0 bytes\)"),
        (b"%PDF-1.7 not audio at all", "not an audio file"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "could not be decoded"),
        (wav_bytes(np.zeros(0, np.float32), 16000), "no audio samples"),
    ],
)
def test_bad_files_are_refused_with_the_field_named(data: bytes, words: str) -> None:
    with pytest.raises(InvalidAudio, match=words) as caught:
        decode_audio(data, 16000, param="file")
    assert caught.value.details["param"] == "file"
    assert caught.value.status == 400


def test_audio_longer_than_the_limit_is_refused_before_decoding() -> None:
    with pytest.raises(AudioTooLong, match=r"lasts 3\.0 s, longer than this model's limit of 2 s"):
        decode_audio(wav_bytes(tone(3.0, 8000), 8000), 16000, max_seconds=2)
    assert decode_audio(wav_bytes(tone(1.0, 8000), 8000), 16000, max_seconds=2).duration_s == 1.0


@pytest.mark.parametrize("audio_format", sorted(WRITABLE))
def test_every_writable_format_round_trips(audio_format: str) -> None:
    samples = tone(0.5, 24000)
    data = encode_audio(samples, 24000, audio_format)
    if audio_format == "pcm":
        decoded = np.frombuffer(data, dtype="<i2") / 32767
        assert np.allclose(decoded, samples, atol=1e-4)
    else:
        assert decode_audio(data, 24000).duration_s == pytest.approx(0.5, abs=0.05)


def test_opus_at_a_rate_it_cannot_carry_is_resampled() -> None:
    data = encode_audio(tone(0.5, 22050), 22050, "opus")
    assert soundfile.info(io.BytesIO(data)).samplerate == 48000


def test_unknown_formats_and_pass_through() -> None:
    with pytest.raises(InvalidRequest, match="choose one of wav, flac, opus, pcm"):
        encode_audio(tone(0.1, 8000), 8000, "mp3")
    wav = wav_bytes(tone(0.1, 8000), 8000)
    assert transcode(wav, "wav") is wav
    assert sniff_format(transcode(wav, "flac")) == "flac"


def test_pcm16_clips_and_resample_keeps_length_proportional() -> None:
    assert np.frombuffer(pcm16(np.array([2.0, -2.0, 0.0])), "<i2").tolist() == [32767, -32767, 0]
    assert len(resample(tone(1.0, 44100), 44100, 16000)) == 16000
