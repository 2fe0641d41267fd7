from __future__ import annotations

import pytest

from modelmart.runtimes.generation import StopMatcher


def feed_all(matcher: StopMatcher, pieces: list[str]) -> tuple[list[str], bool]:
    sent = []
    for piece in pieces:
        text, stopped = matcher.feed(piece)
        sent.append(text)
        if stopped:
            return sent, True
    sent.append(matcher.flush())
    return sent, False


def test_text_without_stops_passes_through() -> None:
    assert feed_all(StopMatcher(()), ["a", "b"]) == (["a", "b", ""], False)


def test_a_stop_split_over_pieces_is_never_sent() -> None:
    sent, stopped = feed_all(StopMatcher(["END"]), ["one E", "N", "D two"])
    assert stopped
    assert "".join(sent) == "one "
    assert sent[0] == "one "  # "E" held back until the next piece decides it


def test_held_back_text_is_released_when_it_is_no_stop() -> None:
    sent, stopped = feed_all(StopMatcher(["END"]), ["one E", "Nx"])
    assert not stopped
    assert "".join(sent) == "one ENx"


@pytest.mark.parametrize(
    ("stops", "text", "expected"),
    [(["\n\n", "x"], "ab\n\ncx", "ab"), (["b", "ab"], "zab", "z"), (["", "q"], "aqb", "a")],
)
def test_the_earliest_stop_wins(stops: list[str], text: str, expected: str) -> None:
    sent, stopped = feed_all(StopMatcher(stops), list(text))
    assert stopped
    assert "".join(sent) == expected
