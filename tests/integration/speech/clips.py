"""Test speech: sentences spoken by flite's clear ``slt`` voice (Debian ``flite``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

needs_flite = pytest.mark.skipif(
    shutil.which("flite") is None,
    reason="needs Debian's flite to speak the test sentences (apt-get install flite)",
)


def flite_wav(text: str, directory: Path) -> bytes:
    """``text`` spoken by flite's ``slt`` voice: 16 kHz mono WAV bytes."""
    path = directory / "spoken.wav"
    subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(path)], check=True)
    return path.read_bytes()
