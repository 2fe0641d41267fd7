"""Measures for the speech models, called by :mod:`modelmart.catalog.evaluate`.

* recognition (pocketsphinx-en): word error rate on the sentences of
  :mod:`modelmart.catalog.speech_sets` spoken by flite's ``slt`` voice (Debian ``flite``), on
  the read-speech clips Debian's ``pocketsphinx-testdata`` ships (LibriVox, five sentences of
  *Sense and Sensibility*) when it is installed, and the real-time factor (seconds of
  decoding per second of audio);
* synthesis (hibari-tts): round-trip word error rate (hibari speaks each sentence,
  PocketSphinx transcribes it; the recogniser's own errors are part of the figure, compare it
  with the flite figure) and its real-time factor. Latency is per sentence.

Audio goes through the runtimes as a deployment receives it: a file's bytes, decoded and
resampled by :mod:`modelmart.runtimes.audio`.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import numpy as np

from modelmart.catalog.cards import MeasuredModel
from modelmart.catalog.entry import CatalogEntry
from modelmart.catalog.speech_entries import HIBARI_TTS, POCKETSPHINX_EN
from modelmart.catalog.speech_sets import SENTENCES
from modelmart.runtimes.base import Runtime
from modelmart.runtimes.speech import BUNDLED_VOICE
from modelmart.schemas.catalog import Latency, Measurement

Loader = Callable[[CatalogEntry, Path], Runtime]

FLITE_VOICE: Final = "slt"
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
BATCH_SIZE = 8
REPEATS = 3
FLITE_SET: Final = (
    f"the {len(SENTENCES)} sentences of modelmart/catalog/speech_sets.py spoken by flite's "
    f"{FLITE_VOICE} voice (clear synthetic speech, 16 kHz mono)"
)
LIBRIVOX_SET: Final = (
    "the 5 LibriVox read-speech clips (Sense and Sensibility, 25 s in all) of Debian's "
    "pocketsphinx-testdata"
)
ROUND_TRIP_SET: Final = (
    f"the {len(SENTENCES)} sentences of modelmart/catalog/speech_sets.py spoken by hibari, "
    "transcribed by pocketsphinx-en (its errors included)"
)


def words(text: str) -> list[str]:
    """Lower-case words, punctuation dropped, apostrophes kept ("don't")."""
    return re.findall(r"[a-z']+", text.lower())


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Word substitutions, insertions and deletions turning one list into the other."""
    row = list(range(len(hypothesis) + 1))
    for i, expected in enumerate(reference, start=1):
        previous, row[0] = row[0], i
        for j, heard in enumerate(hypothesis, start=1):
            previous, row[j] = (
                row[j],
                min(row[j] + 1, row[j - 1] + 1, previous + (expected != heard)),
            )
    return row[-1]


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Edits over reference words, pooled across the set (not a mean of per-item rates)."""
    pairs = [(words(r), words(h)) for r, h in zip(references, hypotheses, strict=True)]
    total = sum(len(reference) for reference, _ in pairs)
    return sum(edit_distance(r, h) for r, h in pairs) / max(total, 1)


def flite_available() -> bool:
    return shutil.which("flite") is not None


def flite_clip(text: str, directory: Path) -> bytes:
    """``text`` spoken by flite's clear ``slt`` voice, as WAV bytes."""
    path = directory / "clip.wav"
    subprocess.run(["flite", "-voice", FLITE_VOICE, "-t", text, "-o", str(path)], check=True)
    return path.read_bytes()


def librivox_clips(root: Path | None = None) -> list[tuple[str, bytes]]:
    """``(transcript, WAV bytes)`` of the testdata clips (in :data:`LIBRIVOX` unless ``root``
    says otherwise); none when they are not installed."""
    root = root or LIBRIVOX
    listing = root / "transcription"
    if not listing.is_file():
        return []
    clips: list[tuple[str, bytes]] = []
    for line in listing.read_text(encoding="utf-8").splitlines():
        match = re.match(r"<s>(.*)</s>\s*\((.+)\)", line.strip())
        if match and (root / f"{match[2]}.wav").is_file():
            clips.append((match[1].strip(), (root / f"{match[2]}.wav").read_bytes()))
    return clips


def transcribe(runtime: Runtime, clips: Sequence[bytes]) -> tuple[list[str], float, float]:
    """Each clip's transcript, alone; with total decoding seconds and total audio seconds."""
    texts: list[str] = []
    elapsed = audio = 0.0
    for clip in clips:
        start = time.perf_counter()
        outputs = runtime.predict({"audio": _column(clip)})
        elapsed += time.perf_counter() - start
        texts.append(str(outputs["text"][0]))
        audio += float(outputs["duration"][0])
    return texts, elapsed, audio


def _column(*items: object) -> np.ndarray[tuple[int], np.dtype[np.object_]]:
    column = np.empty(len(items), dtype=object)
    column[:] = items
    return column


def speak(runtime: Runtime, texts: Sequence[str]) -> tuple[list[bytes], list[float]]:
    """WAV bytes of each text, spoken alone, and milliseconds each took."""
    spoken: list[bytes] = []
    took: list[float] = []
    for text in texts:
        start = time.perf_counter()
        outputs = runtime.predict(_speech_batch([text]))
        took.append((time.perf_counter() - start) * 1000)
        spoken.append(base64.b64decode(outputs["audio"][0]))
    return spoken, took


def _speech_batch(texts: Sequence[str]) -> dict[str, np.ndarray[tuple[int], np.dtype[np.generic]]]:
    return {
        "text": _column(*texts),
        "voice": _column(*[BUNDLED_VOICE] * len(texts)),
        "speed": np.ones(len(texts), dtype=np.float32),
    }


def _batched_ms(call: Callable[[], object], size: int) -> float:
    """Median milliseconds per item of ``call``, a batch of ``size``, over REPEATS runs."""
    runs = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        call()
        runs.append((time.perf_counter() - start) * 1000 / size)
    return round(float(np.median(runs)), 3)


def recognition_quality(asr: Runtime, workdir: Path) -> tuple[list[Measurement], list[float]]:
    """WER on flite's speech and the LibriVox clips, the real-time factor over both, and
    milliseconds per flite clip (for the latency)."""
    flite = [flite_clip(text, workdir) for text in SENTENCES]
    asr.predict({"audio": _column(flite[0])})  # the first call pays for lazy set-up
    heard, elapsed, audio = transcribe(asr, flite)
    per_clip = [elapsed * 1000 / len(flite)]
    found = [_wer("wer_flite_slt", SENTENCES, heard, FLITE_SET)]
    clips = librivox_clips()
    if clips:
        read, read_elapsed, read_audio = transcribe(asr, [clip for _, clip in clips])
        found.append(_wer("wer_librivox", [text for text, _ in clips], read, LIBRIVOX_SET))
        elapsed, audio = elapsed + read_elapsed, audio + read_audio
    dataset = "all the clips above: seconds of decoding per second of audio, one clip at a time"
    found.append(
        Measurement(metric="real_time_factor", value=round(elapsed / audio, 4), dataset=dataset)
    )
    return found, per_clip


def _wer(metric: str, references: Sequence[str], heard: Sequence[str], dataset: str) -> Measurement:
    return Measurement(
        metric=metric, value=round(word_error_rate(references, heard), 4), dataset=dataset
    )


def measure_recognition(asr: Runtime, workdir: Path, cpu: str, threads: int) -> MeasuredModel:
    quality, per_clip = recognition_quality(asr, workdir)
    batch = [flite_clip(SENTENCES[i % len(SENTENCES)], workdir) for i in range(BATCH_SIZE)]
    batched = _batched_ms(lambda: asr.predict({"audio": _column(*batch)}), BATCH_SIZE)
    latency = Latency(
        ms_per_item_alone=round(per_clip[0], 3), ms_per_item_batched=batched,
        batch_size=BATCH_SIZE, cpu=cpu, threads=threads,
    )  # fmt: skip
    return MeasuredModel(latency=latency, quality=quality)


def measure_synthesis(tts: Runtime, asr: Runtime, cpu: str, threads: int) -> MeasuredModel:
    speak(tts, ["Warm up."])  # the first call loads the G2P lexicons
    spoken, took = speak(tts, SENTENCES)
    heard, _, audio = transcribe(asr, spoken)
    texts = [SENTENCES[i % len(SENTENCES)] for i in range(BATCH_SIZE)]
    batched = _batched_ms(lambda: tts.predict(_speech_batch(texts)), BATCH_SIZE)
    quality = [
        _wer("round_trip_wer", SENTENCES, heard, ROUND_TRIP_SET),
        Measurement(
            metric="real_time_factor", value=round(sum(took) / 1000 / audio, 4),
            dataset=f"the {len(SENTENCES)} sentences: seconds of synthesis per second of speech",
        ),
    ]  # fmt: skip
    latency = Latency(
        ms_per_item_alone=round(float(np.median(took)), 3), ms_per_item_batched=batched,
        batch_size=BATCH_SIZE, cpu=cpu, threads=threads,
    )  # fmt: skip
    return MeasuredModel(latency=latency, quality=quality)


def measure_speech(load: Loader, cpu: str, threads: int) -> dict[str, MeasuredModel]:
    """Both speech models' figures; none when flite is missing (the sets need it)."""
    if not flite_available():
        return {}
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        asr = load(POCKETSPHINX_EN, workdir)
        tts = load(HIBARI_TTS, workdir)
        try:
            return {
                POCKETSPHINX_EN.name: measure_recognition(asr, workdir, cpu, threads),
                HIBARI_TTS.name: measure_synthesis(tts, asr, cpu, threads),
            }
        finally:
            asr.unload()
            tts.unload()
