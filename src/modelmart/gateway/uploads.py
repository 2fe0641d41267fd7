"""What the upload routes (model versions, datasets) share: a JSON metadata form field read
into its pydantic model, and the uploaded file spooled to disk."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, TypeVar

from pydantic import BaseModel, ValidationError

from modelmart.errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)


def parse_metadata(raw: str, model: type[M]) -> M:
    """The ``metadata`` form field as ``model``; a 422 naming each problem otherwise."""
    try:
        return model.model_validate_json(raw or "{}")
    except ValidationError as exc:
        problems = [
            f"{'.'.join(map(str, e['loc'])) or 'metadata'}: {e['msg']}" for e in exc.errors()
        ]
        raise ValidationFailed(
            "the metadata field is not valid: " + "; ".join(problems),
            details={"problems": problems},
        ) from exc


def spool(source: BinaryIO, directory: Path, prefix: str) -> Path:
    """Copy an upload to a new file in ``directory`` (the caller deletes it)."""
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=directory, delete=False, prefix=prefix) as target:
        shutil.copyfileobj(source, target, length=1024 * 1024)
    return Path(target.name)
