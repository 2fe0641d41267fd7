"""The audio routes on a real server with the catalogue's speech models deployed: the
official ``openai`` SDK for the OpenAI-compatible routes, plain HTTP for the task routes and
the bad inputs."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import httpx
import numpy as np
import openai
import pytest
import soundfile

from modelmart import Settings
from modelmart.catalog.speech_entries import MAX_AUDIO_SECONDS
from modelmart.catalog.speech_evaluation import word_error_rate
from modelmart.runtimes.audio import wav_bytes
from tests.integration.energy import billed
from tests.integration.servers import LiveServer, live_server
from tests.integration.speech.clips import flite_wav, needs_flite

SENTENCE = "The weather will be sunny and warm this afternoon."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """pocketsphinx-en in a worker process (audio bytes cross the pipe), hibari-tts and
    vader-sentiment (a model that cannot do audio) in the server process."""
    data_dir = tmp_path_factory.mktemp("audio") / "data"
    settings = Settings(data_dir=data_dir, json_logs=False)
    with live_server(settings) as running:
        deployments = [
            {"model": "pocketsphinx-en", "isolation": "process"},
            {"model": "hibari-tts", "isolation": "thread"},
            {"model": "vader-sentiment", "isolation": "thread"},
        ]
        for body in deployments:
            response = httpx.post(f"{running.url}/v1/deployments", json=body, timeout=120)
            assert response.status_code == 201, response.text
        yield running


@pytest.fixture(scope="module")
def sdk(server: LiveServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0) as client:
        yield client


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def spoken(sdk: openai.OpenAI) -> bytes:
    """SENTENCE as hibari speaks it through the speech route (WAV, the default)."""
    return sdk.audio.speech.create(model="hibari-tts", voice="alloy", input=SENTENCE).content


def test_the_catalogue_lists_both_speech_models(http: httpx.Client) -> None:
    cards = {card["name"]: card for card in http.get("/v1/catalog").json()["models"]}
    for name, task in (("pocketsphinx-en", "speech-recognition"), ("hibari-tts", "text-to-speech")):
        card = cards[name]
        assert (card["task"], card["available"], card["deployed"]) == (task, True, True)
        assert card["licences"]
        assert {m["metric"] for m in card["quality"]}


def test_speech_route_returns_a_wav_with_character_usage(sdk: openai.OpenAI, spoken: bytes) -> None:
    info = soundfile.info(io.BytesIO(spoken))
    assert (info.format, info.samplerate, info.channels) == ("WAV", 24000, 1)
    assert 1.5 < info.duration < 6
    raw = sdk.audio.speech.with_raw_response.create(model="hibari-tts", voice="nova", input="Hi.")
    assert raw.headers["x-usage-characters"] == "3"


@pytest.mark.parametrize(("audio_format", "container"), [("flac", "FLAC"), ("opus", "OGG")])
def test_speech_formats_decode_and_round_trip(
    sdk: openai.OpenAI, audio_format: str, container: str
) -> None:
    audio = sdk.audio.speech.create(
        model="hibari-tts", voice="alloy", input=SENTENCE, response_format=audio_format
    ).content
    assert soundfile.info(io.BytesIO(audio)).format == container
    heard = sdk.audio.transcriptions.create(
        model="pocketsphinx-en", file=(f"speech.{audio_format}", audio)
    )
    assert word_error_rate([SENTENCE], [heard.text]) <= 0.3


def test_pcm_is_raw_16_bit_samples(sdk: openai.OpenAI, spoken: bytes) -> None:
    pcm = sdk.audio.speech.create(
        model="hibari-tts", voice="alloy", input=SENTENCE, response_format="pcm"
    ).content
    samples, _ = soundfile.read(io.BytesIO(spoken), dtype="int16")
    assert np.array_equal(np.frombuffer(pcm, dtype="<i2"), samples)


def test_transcription_formats_through_the_sdk(sdk: openai.OpenAI, spoken: bytes) -> None:
    create = sdk.audio.transcriptions.create
    result = create(model="pocketsphinx-en", file=("speech.wav", spoken))
    assert word_error_rate([SENTENCE], [result.text]) <= 0.3
    assert result.usage is not None
    assert result.usage.type == "duration"
    assert result.usage.seconds == pytest.approx(soundfile.info(io.BytesIO(spoken)).duration, 0.01)
    text = create(model="pocketsphinx-en", file=("speech.wav", spoken), response_format="text")
    assert text.strip() == result.text
    srt = create(model="pocketsphinx-en", file=("speech.wav", spoken), response_format="srt")
    assert srt.startswith("1\n00:00:0")
    assert "-->" in srt
    vtt = create(model="pocketsphinx-en", file=("speech.wav", spoken), response_format="vtt")
    assert vtt.startswith("WEBVTT")
    verbose = create(
        model="pocketsphinx-en",
        file=("speech.wav", spoken),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    assert verbose.text == result.text
    assert verbose.segments
    assert " ".join(s.text for s in verbose.segments) == result.text
    assert verbose.words is not None
    assert [w.word for w in verbose.words] == result.text.split()


@needs_flite
def test_flite_speech_in_mp3_and_ogg(
    sdk: openai.OpenAI, tmp_path_factory: pytest.TempPathFactory
) -> None:
    wav = flite_wav(SENTENCE, tmp_path_factory.mktemp("flite"))
    samples, rate = soundfile.read(io.BytesIO(wav), dtype="float32")
    for container, subtype, name in (
        ("MP3", "MPEG_LAYER_III", "a.mp3"),
        ("OGG", "VORBIS", "a.ogg"),
    ):
        buffer = io.BytesIO()
        soundfile.write(buffer, samples, rate, format=container, subtype=subtype)
        heard = sdk.audio.transcriptions.create(
            model="pocketsphinx-en", file=(name, buffer.getvalue())
        )
        assert word_error_rate([SENTENCE], [heard.text]) <= 0.3, (name, heard.text)


def test_bad_inputs_raise_the_sdk_usual_errors(sdk: openai.OpenAI) -> None:
    cases = [
        (b"", "invalid_audio", "empty"),
        (b"hello, this is text", "invalid_audio", "not an audio file"),
        (
            wav_bytes(np.zeros(8000 * (MAX_AUDIO_SECONDS + 1), np.float32), 8000),
            "audio_too_long",
            f"{MAX_AUDIO_SECONDS} s",
        ),
    ]
    for data, code, words in cases:
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.audio.transcriptions.create(model="pocketsphinx-en", file=("a.wav", data))
        assert caught.value.code == code
        assert words in caught.value.message
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"RIFF"))
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError, match="blank"):
        sdk.audio.speech.create(model="hibari-tts", voice="alloy", input="   ")
    with pytest.raises(openai.BadRequestError, match="choose one of wav, flac, opus, pcm"):
        sdk.audio.speech.create(
            model="hibari-tts", voice="alloy", input="Hi.", response_format="mp3"
        )
    with pytest.raises(openai.BadRequestError, match="cannot do speech synthesis"):
        sdk.audio.speech.create(model="vader-sentiment", voice="alloy", input="Hi.")
    with pytest.raises(openai.NotFoundError):
        sdk.audio.speech.create(model="tts-1", voice="alloy", input="Hi.")


def test_transcription_task_takes_base64_and_uploads(http: httpx.Client, spoken: bytes) -> None:
    encoded = base64.b64encode(spoken).decode()
    as_json = http.post("/v1/tasks/transcription", json={"input": [encoded]})
    assert as_json.status_code == 200, as_json.text
    body = as_json.json()
    assert (body["model"], body["version"]) == ("pocketsphinx-en", 1)
    assert word_error_rate([SENTENCE], [body["results"][0]["text"]]) <= 0.3
    assert body["usage"]["items"] == 1
    assert body["usage"]["audio_seconds"] == pytest.approx(body["results"][0]["duration"])
    uploaded = http.post(
        "/v1/tasks/transcription",
        files=[("file", ("a.wav", spoken)), ("file", ("b.wav", spoken))],
        data={"model": "pocketsphinx-en"},
    )
    assert uploaded.status_code == 200, uploaded.text
    assert [r["text"] for r in uploaded.json()["results"]] == [body["results"][0]["text"]] * 2


def test_speech_task_and_errors_in_modelmart_shape(http: httpx.Client) -> None:
    spoken = http.post("/v1/tasks/speech", json={"input": ["Hello.", "Goodbye."]})
    assert spoken.status_code == 200, spoken.text
    assert billed(spoken.json()["usage"]) == {"items": 2, "characters": 14}
    wav = base64.b64decode(spoken.json()["results"][0]["audio"])
    assert soundfile.info(io.BytesIO(wav)).samplerate == 24000
    empty = http.post("/v1/tasks/transcription", json={"input": ""})
    assert empty.status_code == 400
    assert empty.json()["error"]["code"] == "invalid_audio"
    wrong = http.post("/v1/tasks/transcription", json={"input": base64.b64encode(b"%PDF").decode()})
    assert wrong.json()["error"]["code"] == "invalid_audio"
    blank = http.post("/v1/tasks/speech", json={"input": ""})
    assert (blank.status_code, blank.json()["error"]["code"]) == (400, "invalid_request")
    missing = http.post("/v1/tasks/speech", json={"model": "tts-1", "input": "Hi."})
    assert missing.json()["error"]["code"] == "deployment_not_found"


def test_the_generic_predict_route_takes_base64_audio(http: httpx.Client, spoken: bytes) -> None:
    body = {"instances": [base64.b64encode(spoken).decode()]}
    response = http.post("/v1/models/pocketsphinx-en:predict", json=body)
    assert response.status_code == 200, response.text
    (prediction,) = response.json()["predictions"]
    assert word_error_rate([SENTENCE], [prediction["text"]]) <= 0.3
    spoken_again = http.post(
        "/v1/models/hibari-tts:predict",
        json={"inputs": {"text": ["Hello."], "voice": ["heart"], "speed": [1.0]}},
    )
    assert spoken_again.status_code == 200, spoken_again.text
    (speech,) = spoken_again.json()["predictions"]
    assert soundfile.info(io.BytesIO(base64.b64decode(speech["audio"]))).samplerate == 24000
