"""The PocketSphinx and hibari runtimes on the models their wheels ship, loaded from the
catalogue's package references as a deployment loads them."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

from modelmart.catalog import speech_evaluation
from modelmart.catalog.entry import CatalogEntry
from modelmart.catalog.harness import load
from modelmart.catalog.speech_entries import HIBARI_TTS, MAX_AUDIO_SECONDS, POCKETSPHINX_EN
from modelmart.catalog.speech_evaluation import measure_speech, word_error_rate
from modelmart.errors import AudioTooLong, InvalidAudio, InvalidRequest, UnsupportedFormat
from modelmart.runtimes.audio import wav_bytes
from modelmart.runtimes.base import LoadRequest, Runtime, create_runtime
from modelmart.types import ArtifactFormat, RuntimeName
from tests.integration.speech.clips import flite_wav, needs_flite

SENTENCE = "Please call the office before noon tomorrow."


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="module")
def asr(workdir: Path) -> Iterator[Runtime]:
    runtime = load(POCKETSPHINX_EN, workdir)
    yield runtime
    runtime.unload()


@pytest.fixture(scope="module")
def tts(workdir: Path) -> Iterator[Runtime]:
    runtime = load(HIBARI_TTS, workdir)
    yield runtime
    runtime.unload()


def audio(*items: object) -> dict[str, np.ndarray]:
    column = np.empty(len(items), dtype=object)
    column[:] = items
    return {"audio": column}


def speech(*texts: str, voice: str = "alloy", speed: float = 1.0) -> dict[str, np.ndarray]:
    return {
        "text": np.array(texts, dtype=object),
        "voice": np.array([voice] * len(texts), dtype=object),
        "speed": np.full(len(texts), speed, dtype=np.float32),
    }


@needs_flite
def test_clear_speech_is_transcribed_with_word_times(asr: Runtime, workdir: Path) -> None:
    clip = flite_wav(SENTENCE, workdir)
    outputs = asr.predict(audio(clip, base64.b64encode(clip).decode()))
    heard = [str(text) for text in outputs["text"]]
    assert word_error_rate([SENTENCE], heard[:1]) <= 0.25
    assert heard[1] == heard[0]  # base64 text is the same file; decoding is deterministic
    assert outputs["duration"][0] == pytest.approx(soundfile.info(io.BytesIO(clip)).duration)
    words = json.loads(outputs["words"][0])
    assert [w["word"] for w in words] == heard[0].split()
    assert all(0 <= w["start"] < w["end"] <= outputs["duration"][0] + 0.01 for w in words)


def test_any_rate_is_resampled_and_timed(asr: Runtime) -> None:
    quiet = np.random.default_rng(0).normal(0, 0.001, 8000).astype(np.float32)
    outputs = asr.predict(audio(wav_bytes(quiet, 8000)))
    assert outputs["duration"].tolist() == [1.0]
    words = json.loads(outputs["words"][0])
    assert [w["word"] for w in words] == str(outputs["text"][0]).split()


def test_bad_items_are_refused(asr: Runtime) -> None:
    with pytest.raises(InvalidAudio, match="not base64"):
        asr.predict(audio("this is not base64!"))
    with pytest.raises(AudioTooLong, match=f"limit of {MAX_AUDIO_SECONDS} s"):
        asr.predict(audio(wav_bytes(np.zeros(8000 * (MAX_AUDIO_SECONDS + 1), np.float32), 8000)))


def test_speech_is_a_wav_at_24_khz_and_repeatable(tts: Runtime) -> None:
    outputs = tts.predict(speech("Good morning.", "Good morning."))
    first, second = (base64.b64decode(item) for item in outputs["audio"])
    assert first == second  # seeded synthesis
    info = soundfile.info(io.BytesIO(first))
    assert (info.samplerate, info.channels) == (24000, 1)
    assert outputs["duration"][0] == pytest.approx(info.duration)
    assert outputs["sample_rate"].tolist() == [24000, 24000]
    faster = tts.predict(speech("Good morning.", speed=2.0))["duration"][0]
    assert faster < 0.75 * outputs["duration"][0]


def test_speech_requests_are_checked_in_the_runtime_too(tts: Runtime) -> None:
    with pytest.raises(InvalidRequest, match="voice 'emma' is not available"):
        tts.predict(speech("Hi.", voice="emma"))


def test_speech_round_trips_through_recognition(tts: Runtime, asr: Runtime) -> None:
    spoken = base64.b64decode(tts.predict(speech(SENTENCE))["audio"][0])
    heard = str(asr.predict(audio(spoken))["text"][0])
    assert word_error_rate([SENTENCE], [heard]) <= 0.25


@pytest.mark.parametrize("runtime_name", [RuntimeName.POCKETSPHINX, RuntimeName.HIBARI])
def test_only_the_catalogue_reference_loads(runtime_name: RuntimeName, tmp_path: Path) -> None:
    runtime = create_runtime(runtime_name)
    with pytest.raises(UnsupportedFormat, match="package reference of the built-in catalogue"):
        runtime.load(LoadRequest(tmp_path, ArtifactFormat.ONNX))


def test_metadata_names_versions(asr: Runtime, tts: Runtime) -> None:
    assert asr.metadata["pocketsphinx_version"] == "5.1.1"
    assert tts.metadata["hibari_version"] == "0.2.1"
    assert asr.metadata["sample_rate"] == 16000


@needs_flite
def test_measurements_on_a_small_set(
    asr: Runtime, tts: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The card's figures, on two sentences and one LibriVox-style clip (a flite one)."""
    monkeypatch.setattr(speech_evaluation, "SENTENCES", ("Good morning.", SENTENCE))
    (tmp_path / "clip.wav").write_bytes(flite_wav(SENTENCE, tmp_path))
    (tmp_path / "transcription").write_text(f"<s> {SENTENCE.lower()[:-1]} </s> (clip)\n")
    monkeypatch.setattr(speech_evaluation, "LIBRIVOX", tmp_path)
    monkeypatch.setattr(speech_evaluation, "BATCH_SIZE", 2)
    monkeypatch.setattr(speech_evaluation, "REPEATS", 1)
    loaded = {POCKETSPHINX_EN.name: asr, HIBARI_TTS.name: tts}

    class Shared:  # the module's runtimes, kept loaded for the other tests
        def __init__(self, runtime: Runtime) -> None:
            self.predict = runtime.predict

        def unload(self) -> None:
            return None

    def shared(entry: CatalogEntry, _: Path) -> Runtime:
        return Shared(loaded[entry.name])  # type: ignore[return-value]

    figures = measure_speech(shared, "test cpu", 1)
    recognition = {m.metric: m.value for m in figures[POCKETSPHINX_EN.name].quality}
    assert set(recognition) == {"wer_flite_slt", "wer_librivox", "real_time_factor"}
    assert recognition["wer_flite_slt"] <= 0.25
    assert recognition["real_time_factor"] > 0
    synthesis = {m.metric: m.value for m in figures[HIBARI_TTS.name].quality}
    assert synthesis["round_trip_wer"] <= 0.5
    assert figures[HIBARI_TTS.name].latency.ms_per_item_alone > 0
