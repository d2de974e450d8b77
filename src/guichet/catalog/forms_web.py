"""Procedure facts as the pages show them."""

from typing import Any

from guichet.catalog.forms import accepted_types

TYPE_NAMES = {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG"}


def type_names(spec: dict[str, Any]) -> str:
    """Accepted file types as a person names them: "PDF, JPEG, PNG"."""
    names = [TYPE_NAMES.get(mime, mime.rsplit("/", 1)[-1].upper()) for mime in accepted_types(spec)]
    return ", ".join(names)
