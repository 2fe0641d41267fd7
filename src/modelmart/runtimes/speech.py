"""What the speech runtimes take and return, free of framework imports.

The catalogue and the gateway read these without importing pocketsphinx or hibari: the
catalogue lists a speech model as unavailable when its package is missing, and the audio
routes refuse a bad request (:func:`check_speech_request`) before it joins a batch, where its
error would fail every request batched with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from modelmart.errors import InvalidRequest
from modelmart.types import Datatype, Signature, TensorSpec

# Recognition (modelmart.runtimes.pocketsphinx).
RECOGNITION_RATE: Final = 16000
"""The rate PocketSphinx's en-us acoustic model was trained at; inputs are resampled to it."""
ACOUSTIC_MODEL: Final = "acoustic-model"
LANGUAGE_MODEL: Final = "language-model.lm.bin"
DICTIONARY: Final = "dictionary.dict"
TRANSCRIPTION_SIGNATURE: Final = Signature(
    inputs=(TensorSpec(name="audio", datatype=Datatype.BYTES, shape=(-1,)),),
    outputs=(
        TensorSpec(name="text", datatype=Datatype.BYTES, shape=(-1,)),
        TensorSpec(name="duration", datatype=Datatype.FP32, shape=(-1,)),
        TensorSpec(name="words", datatype=Datatype.BYTES, shape=(-1,)),
    ),
)


def max_audio_seconds(parameters: Mapping[str, Any]) -> float | None:
    """The longest audio a recognition version takes (``max_audio_seconds``), if limited."""
    value = parameters.get("max_audio_seconds")
    return float(value) if isinstance(value, int | float) and value > 0 else None


# Synthesis (modelmart.runtimes.hibari).
SYNTHESIS_RATE: Final = 24000
BUNDLED_VOICE: Final = "heart"
OPENAI_VOICES: Final = (
    "alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer",
    "verse", "marin", "cedar",
)  # fmt: skip
VOICES: Final = (BUNDLED_VOICE, *OPENAI_VOICES)
"""Voice names accepted; every one speaks with the bundled voice."""
MIN_SPEED: Final = 0.5
MAX_SPEED: Final = 2.0
DEFAULT_MAX_CHARACTERS: Final = 4096
SPEECH_SIGNATURE: Final = Signature(
    inputs=(
        TensorSpec(name="text", datatype=Datatype.BYTES, shape=(-1,)),
        TensorSpec(name="voice", datatype=Datatype.BYTES, shape=(-1,)),
        TensorSpec(name="speed", datatype=Datatype.FP32, shape=(-1,)),
    ),
    outputs=(
        TensorSpec(name="audio", datatype=Datatype.BYTES, shape=(-1,)),
        TensorSpec(name="duration", datatype=Datatype.FP32, shape=(-1,)),
        TensorSpec(name="sample_rate", datatype=Datatype.INT32, shape=(-1,)),
    ),
)


def max_characters(parameters: Mapping[str, Any]) -> int:
    """The longest text a synthesis version takes (its ``max_characters`` parameter)."""
    value = parameters.get("max_characters", DEFAULT_MAX_CHARACTERS)
    return value if isinstance(value, int) and value > 0 else DEFAULT_MAX_CHARACTERS


def check_speech_request(
    text: str, voice: str, speed: float, limit: int, index: int | None = None
) -> None:
    """Refuse a blank or over-long text, an unknown voice or a speed out of range, naming the
    field at fault in ``details["param"]``; ``index`` numbers the item in a batch."""
    where = "" if index is None else f"item {index}: "
    if not text.strip():
        raise InvalidRequest(
            f"{where}the text is blank; send some words to speak", details={"param": "input"}
        )
    if len(text) > limit:
        raise InvalidRequest(
            f"{where}the text has {len(text)} characters, more than this model's limit of "
            f"{limit}; split it into shorter texts",
            details={"param": "input", "max_characters": limit},
        )
    if voice not in VOICES:
        raise InvalidRequest(
            f"{where}voice {voice!r} is not available; choose one of {', '.join(VOICES)} "
            f"(all speak with the bundled voice {BUNDLED_VOICE!r})",
            details={"param": "voice", "voices": list(VOICES)},
        )
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise InvalidRequest(
            f"{where}speed {speed:g} is out of range; this model speaks at {MIN_SPEED:g} to "
            f"{MAX_SPEED:g} times its normal pace",
            details={"param": "speed"},
        )
