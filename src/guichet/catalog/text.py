"""Texts kept in several languages as {"fr": ..., "en": ...}; French is the fallback."""

import unicodedata
from typing import Any

from django.utils import translation

FALLBACK_LANGUAGE = "fr"


def translated(value: Any, language: str | None = None) -> str:
    """The text in the active language, else French, else any language present."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict) or not value:
        return ""
    language = (language or translation.get_language() or FALLBACK_LANGUAGE).split("-")[0]
    for candidate in (language, FALLBACK_LANGUAGE):
        text = value.get(candidate)
        if text:
            return str(text)
    return str(next(iter(value.values())))


def fold(text: str) -> str:
    """Lower case without accents: "Extrait d'acte de Naissance" and "naissance" then match."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
