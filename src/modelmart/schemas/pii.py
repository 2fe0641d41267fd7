"""What is done with personal data in the text a request sends and receives: the PII policy.

An organisation, an API key and a deployment may each set one. The levels are ordered, each
doing all that the one below does and more:

* ``off``: nothing;
* ``detect``: the entities found in the request's texts and in the model's answer are
  reported beside the answer (types and character spans, never the values);
* ``redact-output``: as ``detect``, and the answer is redacted before it reaches the caller;
* ``redact-input``: as ``redact-output``, and the request's texts are redacted before they
  reach the model.

The policy in force for a request is the strictest of the three settings
(:func:`strictest`): a setting can only add protection, so a deployment or a key can never
loosen what its organisation requires, nor an organisation what a deployment requires.

Free of the NLP libraries, so the SDK and the CLI can name policies; applying one is
:mod:`modelmart.privacy.guard`'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from modelmart.errors import InvalidPiiPolicy


class PiiPolicy(StrEnum):
    OFF = "off"
    DETECT = "detect"
    REDACT_OUTPUT = "redact-output"
    REDACT_INPUT = "redact-input"

    @property
    def level(self) -> int:
        """Its place in the order of strictness, ``off`` first."""
        return _ORDER.index(self)

    @property
    def detects(self) -> bool:
        return self.level >= PiiPolicy.DETECT.level

    @property
    def redacts_output(self) -> bool:
        return self.level >= PiiPolicy.REDACT_OUTPUT.level

    @property
    def redacts_input(self) -> bool:
        return self.level >= PiiPolicy.REDACT_INPUT.level


_ORDER = (PiiPolicy.OFF, PiiPolicy.DETECT, PiiPolicy.REDACT_OUTPUT, PiiPolicy.REDACT_INPUT)
POLICY_NAMES: tuple[str, ...] = tuple(policy.value for policy in _ORDER)
"""The valid settings, least strict first."""


def strictest(policies: Iterable[PiiPolicy | None]) -> PiiPolicy:
    """The policy in force where several apply (organisation, key, deployment); an unset one
    (None) adds nothing."""
    return max((p for p in policies if p is not None), key=lambda p: p.level, default=PiiPolicy.OFF)


def parse_policy(value: str, field: str = "pii_policy") -> PiiPolicy:
    """The policy named ``value``; InvalidPiiPolicy (422) naming the valid ones otherwise."""
    try:
        return PiiPolicy(value)
    except ValueError:
        raise InvalidPiiPolicy(
            f"{field} {value!r} is not a PII policy; use one of {', '.join(POLICY_NAMES)}",
            details={"param": field, "valid": list(POLICY_NAMES)},
        ) from None


def stored_policy(value: str | None) -> PiiPolicy | None:
    """A policy as a database column holds it (None: not set)."""
    return None if value is None else PiiPolicy(value)


def checked_policy(value: str | None) -> str | None:
    """A ``pii_policy`` field's value once checked: None (not given) or a valid name."""
    return None if value is None else parse_policy(value).value


POLICY_FIELD_DOC: dict[str, Any] = {
    "enum": [*POLICY_NAMES, None],
    "description": (
        "PII policy: off, detect, redact-output or redact-input; the strictest of the "
        "organisation's, the key's and the deployment's is in force"
    ),
}
"""A ``pii_policy`` field's JSON schema; the value is checked by :func:`parse_policy`, whose
error names the valid ones (422 ``invalid_pii_policy``)."""
