"""Personal data in text: finding it and removing it (Presidio over spaCy, offline)."""
