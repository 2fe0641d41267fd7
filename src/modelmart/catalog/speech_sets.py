"""The sentences the speech models are measured on.

Written for this repository: 20 plain English sentences of everyday words, no digits or
abbreviations, so a recogniser's errors are its own and not a spelling convention's (is it
"10" or "ten"?). Spoken by flite's ``slt`` voice they test recognition on clear synthetic
speech; spoken by hibari and recognised by PocketSphinx they test synthesis (round trip).
"""

from __future__ import annotations

SENTENCES: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog.",
    "Please call the office before noon tomorrow.",
    "The weather will be sunny and warm this afternoon.",
    "She opened the window to let in some fresh air.",
    "We need to buy bread, milk and eggs from the store.",
    "The train to the city leaves every hour.",
    "He found his keys under the kitchen table.",
    "The children played in the park until dinner.",
    "Turn left at the next corner and walk two blocks.",
    "The meeting has been moved to next week.",
    "My brother works at the hospital as a nurse.",
    "The river runs through the middle of the town.",
    "Can you send me the report by the end of the day?",
    "The garden is full of red and yellow flowers.",
    "I would like a cup of coffee with sugar.",
    "The plane landed safely after a long flight.",
    "Our team won the game in the last minute.",
    "The library is closed on public holidays.",
    "Remember to turn off the lights when you leave.",
    "The teacher asked the students to read the first chapter.",
)
