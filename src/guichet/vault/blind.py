"""Blind indexes: exact search on encrypted values without decrypting them.

`blind_index(kind, value)` is HMAC-SHA256 over the kind and the normalised value, truncated to
128 bits and hex-encoded. Domain apps store it in an indexed column beside the ciphertext and look
rows up by it; they still decrypt the found rows through their access module before showing them.

The HMAC key is a separate random 256-bit key, not a KEK and not any owner's DEK. It is kept like
a data key (owner "vault:blind-index", wrapped by the active KEK), so it is protected by the same
provider (HSM or key file), survives KEK rotation and a move to another provider unchanged (only
its wrapping changes), and never needs a reindex. Truncation keeps the index short; at 128 bits a
collision between two real values is not a practical concern.

Normalisation per kind:
- national_id: digits only (spaces, dots and dashes dropped);
- email: trimmed, Unicode NFKC, lowercased; one "@" with text on both sides;
- phone: E.164; a number without "+" or "00" is national and gets GUICHET_PHONE_COUNTRY_CODE
  (221, Senegal), so "77 123 45 67" and "+221771234567" index alike;
- text: NFKC, casefolded, inner whitespace collapsed (exact names, references).
"""

import hashlib
import hmac
import re
import threading
import time
import unicodedata
from collections.abc import Callable

from django.conf import settings
from django.db import connection, transaction

from guichet.vault.cache import DEFAULT_TTL_SECONDS
from guichet.vault.errors import InvalidIndexValue
from guichet.vault.keys import owner_key_material

BLIND_INDEX_OWNER = "vault:blind-index"
INDEX_BYTES = 16

_key: tuple[float, "hmac.HMAC"] | None = None
_lock = threading.Lock()


def _national_id(value: str) -> str:
    digits = re.sub(r"[\s.\-/]", "", value)
    if not digits.isdigit() or not digits.isascii():
        raise InvalidIndexValue("A national identification number is made of digits only.")
    return digits


def _email(value: str) -> str:
    address = unicodedata.normalize("NFKC", value).strip().lower()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or any(ch.isspace() for ch in address):
        raise InvalidIndexValue("Not an email address.")
    return address


def _phone(value: str) -> str:
    compact = re.sub(r"[\s.\-()/]", "", unicodedata.normalize("NFKC", value))
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if compact.startswith("+"):
        digits = compact[1:]
    else:
        country = str(getattr(settings, "GUICHET_PHONE_COUNTRY_CODE", "221")).lstrip("+")
        digits = country + compact
    if not digits.isascii() or not digits.isdigit() or not 8 <= len(digits) <= 15:
        raise InvalidIndexValue("Not a phone number (E.164 allows 8 to 15 digits).")
    return "+" + digits


def _text(value: str) -> str:
    text = " ".join(unicodedata.normalize("NFKC", value).casefold().split())
    if not text:
        raise InvalidIndexValue("Empty text cannot be indexed.")
    return text


NORMALISERS: dict[str, Callable[[str], str]] = {
    "national_id": _national_id,
    "email": _email,
    "phone": _phone,
    "text": _text,
}


def normalise(kind: str, value: str) -> str:
    normaliser = NORMALISERS.get(kind)
    if normaliser is None:
        raise InvalidIndexValue(f"Unknown blind index kind {kind!r}.")
    if not isinstance(value, str):
        raise InvalidIndexValue("Blind indexes take text values.")
    return normaliser(value)


def _hmac_prototype() -> "hmac.HMAC":
    global _key
    now = time.monotonic()
    current = _key
    if current is not None and current[0] > now:
        return current[1]
    with _lock:
        _, material = owner_key_material(BLIND_INDEX_OWNER)
        prototype = hmac.new(material, digestmod=hashlib.sha256)
        ttl = float(getattr(settings, "GUICHET_VAULT_CACHE_SECONDS", DEFAULT_TTL_SECONDS))
        entry = (now + ttl, prototype)
        if connection.in_atomic_block:
            # The key row may have been created by this very transaction; if it rolls back, an
            # index computed with a key that no longer exists must not outlive it.
            transaction.on_commit(lambda: _keep(entry))
        else:
            _key = entry
        return prototype


def _keep(entry: tuple[float, "hmac.HMAC"]) -> None:
    global _key
    _key = entry


def blind_index(kind: str, value: str) -> str:
    """A 32-character hex digest that is equal for equal normalised values of the same kind."""
    message = kind.encode() + b"\x00" + normalise(kind, value).encode()
    mac = _hmac_prototype().copy()
    mac.update(message)
    return mac.digest()[:INDEX_BYTES].hex()


def forget_blind_index_key() -> None:
    global _key
    _key = None
