"""A request's PII policy applied to its texts: inputs, whole answers, streamed answers, and
the report, which never holds a value."""

from __future__ import annotations

import pytest

from modelmart.gateway.pii import guarded_requests
from modelmart.privacy.guard import PiiGuard
from modelmart.runtimes.generation import ChatMessage, GenerationRequest, ToolCall
from modelmart.schemas.pii import PiiPolicy
from tests.unit.privacy.fakes import PatternDetector

MAIL = "jane.doe@example.com"
PHONE = "212-555-0198"
TEXT = f"Mail {MAIL} or call {PHONE}."


def guard(policy: PiiPolicy) -> PiiGuard:
    return PiiGuard(policy, PatternDetector())


def test_off_touches_nothing_and_reports_nothing() -> None:
    off = PiiGuard(PiiPolicy.OFF, None)
    assert off.input(TEXT) == TEXT
    assert off.output(0, TEXT) == TEXT
    assert off.report() is None


def test_redact_input_replaces_the_entities_and_reports_where_they_were() -> None:
    redacting = guard(PiiPolicy.REDACT_INPUT)
    assert redacting.input(TEXT) == "Mail <EMAIL_ADDRESS> or call <PHONE_NUMBER>."
    assert redacting.report() == {
        "policy": "redact-input",
        "input": [
            [
                {"type": "EMAIL_ADDRESS", "start": 5, "end": 5 + len(MAIL)},
                {"type": "PHONE_NUMBER", "start": TEXT.index(PHONE), "end": len(TEXT) - 1},
            ]
        ],
        "output": [],
    }


@pytest.mark.parametrize("policy", [PiiPolicy.DETECT, PiiPolicy.REDACT_OUTPUT])
def test_only_redact_input_changes_what_the_model_is_sent(policy: PiiPolicy) -> None:
    assert guard(policy).input(TEXT) == TEXT


def test_a_redacted_answers_spans_point_at_its_placeholders() -> None:
    redacting = guard(PiiPolicy.REDACT_OUTPUT)
    answer = redacting.output(0, TEXT)
    report = redacting.report()
    assert report is not None
    found = report["output"][0]
    assert [answer[e["start"] : e["end"]] for e in found] == ["<EMAIL_ADDRESS>", "<PHONE_NUMBER>"]


def test_the_report_holds_no_value() -> None:
    detecting = guard(PiiPolicy.DETECT)
    detecting.input(TEXT)
    detecting.output(0, TEXT)
    assert MAIL not in str(detecting.report())
    assert PHONE not in str(detecting.report())
    assert detecting.counts() == {"EMAIL_ADDRESS": 2, "PHONE_NUMBER": 2}


def _stream(policy: PiiPolicy, pieces: list[str]) -> tuple[list[str], PiiGuard]:
    checking = guard(policy)
    stream = checking.output_stream(0)
    sent = [stream.feed(piece) for piece in pieces]
    sent.append(stream.finish())
    return sent, checking


PIECES = ["Write to jane", ".doe@exam", "ple.com today", ". Or call 212-", "555-0198", " now"]


def test_a_streamed_answer_is_redacted_a_sentence_at_a_time() -> None:
    sent, _ = _stream(PiiPolicy.REDACT_OUTPUT, PIECES)
    assert "".join(sent) == "Write to <EMAIL_ADDRESS> today. Or call <PHONE_NUMBER> now"
    # Held back until the first sentence ended, then sent whole; the rest at the end.
    assert sent[:3] == ["", "", ""]
    assert sent[3] == "Write to <EMAIL_ADDRESS> today."
    assert sent[-1] == " Or call <PHONE_NUMBER> now"


def test_detect_passes_a_streamed_answer_as_it_comes_and_reports_its_spans() -> None:
    sent, detecting = _stream(PiiPolicy.DETECT, PIECES)
    answer = "".join(PIECES)
    assert sent[:-1] == PIECES
    assert sent[-1] == ""
    report = detecting.report()
    assert report is not None
    assert [answer[e["start"] : e["end"]] for e in report["output"][0]] == [MAIL, PHONE]


def test_a_streamed_redacted_answers_spans_point_at_its_placeholders() -> None:
    sent, redacting = _stream(PiiPolicy.REDACT_OUTPUT, PIECES)
    answer = "".join(sent)
    report = redacting.report()
    assert report is not None
    found = [answer[e["start"] : e["end"]] for e in report["output"][0]]
    assert found == ["<EMAIL_ADDRESS>", "<PHONE_NUMBER>"]


@pytest.mark.parametrize(
    ("arguments", "sent"),
    [
        ('{"to": "jane.doe@example.com", "n": [1, "212-555-0198"]}',
         '{"to": "<EMAIL_ADDRESS>", "n": [1, "<PHONE_NUMBER>"]}'),
        ('{"to":  "nobody"}', '{"to":  "nobody"}'),  # nothing found: the model's own text
        ("to jane.doe@example.com", "to <EMAIL_ADDRESS>"),  # not JSON: redacted as text
    ],
)  # fmt: skip
async def test_tool_call_arguments_are_redacted_as_json_values(arguments: str, sent: str) -> None:
    redacting = guard(PiiPolicy.REDACT_INPUT)
    call = ToolCall("call_1", "send_mail", arguments)
    message = ChatMessage("assistant", "", tool_calls=(call,))

    (guarded,) = await guarded_requests(redacting, [GenerationRequest(messages=(message,))])

    assert guarded.messages[0].tool_calls[0].arguments == sent
    report = redacting.report()
    assert report is not None
    assert len(report["input"]) == 1  # one entry per message, as before
