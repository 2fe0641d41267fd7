"""PII policies: their order, the strictest in force, and the error for an unknown one."""

from __future__ import annotations

import itertools

import pytest

from modelmart.errors import InvalidPiiPolicy
from modelmart.schemas.pii import POLICY_NAMES, PiiPolicy, parse_policy, strictest

OFF, DETECT, OUTPUT, INPUT = (
    PiiPolicy.OFF,
    PiiPolicy.DETECT,
    PiiPolicy.REDACT_OUTPUT,
    PiiPolicy.REDACT_INPUT,
)


def test_each_level_does_what_the_one_below_does_and_more() -> None:
    assert [
        (p.detects, p.redacts_output, p.redacts_input) for p in (OFF, DETECT, OUTPUT, INPUT)
    ] == [
        (False, False, False),
        (True, False, False),
        (True, True, False),
        (True, True, True),
    ]


@pytest.mark.parametrize(
    ("organisation", "key", "deployment", "in_force"),
    [
        (None, None, None, OFF),
        (INPUT, None, OFF, INPUT),  # a deployment set to off does not loosen its organisation
        (INPUT, DETECT, None, INPUT),  # nor does a key
        (DETECT, OFF, OUTPUT, OUTPUT),  # a deployment tightens what the organisation asks
        (OFF, INPUT, DETECT, INPUT),  # and so does a key
        (None, None, DETECT, DETECT),
    ],
)
def test_the_strictest_setting_is_in_force(
    organisation: PiiPolicy | None,
    key: PiiPolicy | None,
    deployment: PiiPolicy | None,
    in_force: PiiPolicy,
) -> None:
    assert strictest([organisation, key, deployment]) is in_force


def test_the_order_the_settings_come_in_does_not_matter() -> None:
    for settings in itertools.permutations([DETECT, None, OUTPUT, OFF]):
        assert strictest(settings) is OUTPUT


def test_an_unknown_policy_is_refused_naming_the_valid_ones() -> None:
    with pytest.raises(InvalidPiiPolicy) as refused:
        parse_policy("redact")
    assert refused.value.status == 422
    assert refused.value.code == "invalid_pii_policy"
    for name in POLICY_NAMES:
        assert name in refused.value.message
    assert refused.value.details["valid"] == ["off", "detect", "redact-output", "redact-input"]


def test_every_valid_name_parses() -> None:
    assert [parse_policy(name) for name in POLICY_NAMES] == [OFF, DETECT, OUTPUT, INPUT]
