"""Sealing a small secret under an operator's passphrase (scrypt, then AES-256-GCM).

Used by the key export: the one place where key material leaves the key store, so it is bound to
something only people hold. scrypt with N=2**17, r=8, p=1 costs 128 MiB and about half a second
per guess on a server, which makes guessing a 12-character passphrase impractical; the parameters
are stored with the sealed data (and bounded when read, so a crafted file cannot exhaust memory).
The passphrase is normalised to Unicode NFC first, so the same words typed on two keyboards
derive the same key. Every visible field of the envelope is authenticated with the ciphertext.
"""

import base64
import binascii
import json
import os
import unicodedata
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from guichet.vault.errors import VaultError

MIN_PASSPHRASE = 12
SCRYPT_N = 2**17
SCRYPT_R = 8
SCRYPT_P = 1
_MAX_N = 2**20
_MAX_R = 32
_MAX_P = 4


class PassphraseError(VaultError):
    """The passphrase is too weak or wrong, or the sealed file was altered."""


def check_passphrase(passphrase: str) -> bytes:
    text = unicodedata.normalize("NFC", passphrase)
    if len(text) < MIN_PASSPHRASE:
        raise PassphraseError(
            f"The passphrase must be at least {MIN_PASSPHRASE} characters long "
            f"(it has {len(text)}); several unrelated words make a good one."
        )
    return text.encode()


def _derive(secret: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(secret)


def seal(payload: bytes, passphrase: str, public: dict[str, Any]) -> dict[str, Any]:
    """An envelope (JSON-ready dict) holding `payload`; `public` fields stay readable."""
    secret = check_passphrase(passphrase)
    salt, nonce = os.urandom(16), os.urandom(12)
    envelope = {
        **public,
        "kdf": {
            "name": "scrypt",
            "n": SCRYPT_N,
            "r": SCRYPT_R,
            "p": SCRYPT_P,
            "salt": base64.b64encode(salt).decode(),
        },
        "cipher": "AES-256-GCM",
        "nonce": base64.b64encode(nonce).decode(),
    }
    key = _derive(secret, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    sealed = AESGCM(key).encrypt(nonce, payload, _associated(envelope))
    envelope["ciphertext"] = base64.b64encode(sealed).decode()
    return envelope


def unseal(envelope: dict[str, Any], passphrase: str) -> bytes:
    secret = unicodedata.normalize("NFC", passphrase).encode()
    try:
        kdf = envelope["kdf"]
        n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
        salt = base64.b64decode(kdf["salt"], validate=True)
        nonce = base64.b64decode(envelope["nonce"], validate=True)
        sealed = base64.b64decode(envelope["ciphertext"], validate=True)
        if kdf["name"] != "scrypt" or envelope["cipher"] != "AES-256-GCM":
            raise PassphraseError("The file uses a key derivation or cipher this code lacks.")
    except (KeyError, TypeError, ValueError, binascii.Error) as error:
        raise PassphraseError(f"The file is not a sealed key export ({error}).") from error
    if not (2 <= n <= _MAX_N and n & (n - 1) == 0 and 1 <= r <= _MAX_R and 1 <= p <= _MAX_P):
        raise PassphraseError("The file asks for scrypt parameters outside the safe range.")
    public = {k: v for k, v in envelope.items() if k != "ciphertext"}
    try:
        return AESGCM(_derive(secret, salt, n, r, p)).decrypt(nonce, sealed, _associated(public))
    except InvalidTag as error:
        raise PassphraseError("Wrong passphrase, or the file was altered.") from error


def _associated(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
