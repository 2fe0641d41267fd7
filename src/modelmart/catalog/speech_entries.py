"""The catalogue's speech models: recognition with PocketSphinx, synthesis with hibari.

Both serve the OpenAI-compatible audio routes (``/v1/audio/transcriptions`` and
``/v1/audio/speech``) and the task routes ``/v1/tasks/transcription`` and
``/v1/tasks/speech``; their signatures are the runtimes' own
(:mod:`modelmart.runtimes.pocketsphinx`, :mod:`modelmart.runtimes.hibari`).
"""

from __future__ import annotations

from modelmart.catalog.entry import CatalogEntry
from modelmart.registry.packages import PackageFile, PackageManifest
from modelmart.runtimes.speech import (
    ACOUSTIC_MODEL,
    DEFAULT_MAX_CHARACTERS,
    DICTIONARY,
    LANGUAGE_MODEL,
    SPEECH_SIGNATURE,
    TRANSCRIPTION_SIGNATURE,
)
from modelmart.types import ArtifactFormat, RuntimeName, Task

POCKETSPHINX_PACKAGE = "pocketsphinx"
POCKETSPHINX_VERSION = "5.1.1"
HIBARI_PACKAGE = "hibari-tts"
HIBARI_VERSION = "0.2.1"
MAX_AUDIO_SECONDS = 60
_EN_US = "model/en-us"

POCKETSPHINX_EN = CatalogEntry(
    name="pocketsphinx-en",
    title="PocketSphinx US English speech recognition",
    task=Task.SPEECH_RECOGNITION,
    description=(
        "CMU PocketSphinx with its US English acoustic model, trigram language model and "
        "pronouncing dictionary: speech to lower-case words with their times, on a CPU, "
        "faster than real time. Takes WAV, FLAC, Ogg or MP3 (resampled to 16 kHz mono), up "
        f"to {MAX_AUDIO_SECONDS} s per file. Clear read speech transcribes well; "
        "conversational or noisy audio and words outside its dictionary do not. A batch must "
        "finish within the deployment's timeout_s: for many long files, deploy it with a "
        "small max_batch_size or a longer timeout_s."
    ),
    licences={
        POCKETSPHINX_PACKAGE: (
            "BSD-2-Clause (the wheel's LICENSE, Carnegie Mellon University; the en-us models "
            "it bundles ship under the same terms)"
        )
    },
    manifest=PackageManifest(
        runtime=RuntimeName.POCKETSPHINX,
        format=ArtifactFormat.PACKAGE,
        packages={POCKETSPHINX_PACKAGE: POCKETSPHINX_VERSION},
        files={
            ACOUSTIC_MODEL: PackageFile(module="pocketsphinx", path=f"{_EN_US}/en-us"),
            LANGUAGE_MODEL: PackageFile(module="pocketsphinx", path=f"{_EN_US}/en-us.lm.bin"),
            DICTIONARY: PackageFile(module="pocketsphinx", path=f"{_EN_US}/cmudict-en-us.dict"),
        },
    ),
    signature=TRANSCRIPTION_SIGNATURE,
    parameters={"max_audio_seconds": MAX_AUDIO_SECONDS},
)

HIBARI_TTS = CatalogEntry(
    name="hibari-tts",
    title="hibari English text to speech",
    task=Task.TEXT_TO_SPEECH,
    description=(
        "hibari: a 7.9 MB ONNX voice distilled from Kokoro-82M's af_heart (American English, "
        "female) with misaki's lexicon-and-rules G2P, 24 kHz mono, many times faster than "
        "real time on one CPU core. One voice ships in the package; OpenAI's voice names are "
        f"accepted and speak with it. Speed 0.5 to 2.0; up to {DEFAULT_MAX_CHARACTERS} "
        "characters per text."
    ),
    licences={
        HIBARI_PACKAGE: (
            "Apache-2.0 (the package's LICENSE and NOTICE; the voice is distilled from "
            "Kokoro-82M, Apache-2.0, and the lexicons are misaki's, Apache-2.0)"
        )
    },
    manifest=PackageManifest(
        runtime=RuntimeName.HIBARI,
        format=ArtifactFormat.PACKAGE,
        packages={HIBARI_PACKAGE: HIBARI_VERSION},
        files={"assets": PackageFile(module="hibari", path="assets")},
    ),
    signature=SPEECH_SIGNATURE,
    parameters={"max_characters": DEFAULT_MAX_CHARACTERS},
)

SPEECH_ENTRIES: tuple[CatalogEntry, ...] = (POCKETSPHINX_EN, HIBARI_TTS)
