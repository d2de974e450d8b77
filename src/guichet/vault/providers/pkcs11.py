"""KEKs inside an HSM through PKCS#11 (python-pkcs11), tested against SoftHSM2 2.6.1.

Each KEK version is a non-extractable, sensitive AES-256 key stored on the token with the label
`<prefix>-v<N>`; the application never sees it. Data keys are wrapped with CKM_AES_KEY_WRAP_PAD
(RFC 5649), which SoftHSM2 2.6.1 and common HSMs support: the DEK is imported as a temporary
session object, wrapped, and the object destroyed; unwrapping does the reverse and reads the value
back, which is the point of an envelope scheme (bulk encryption stays in the application).

One logged-in session is kept per process and used under a lock (PKCS#11 sessions are not safe for
concurrent operations). When the token fails or goes away, the request that saw it gets
ProviderUnavailable and the session is dropped, so the next request opens a fresh one.

Settings: GUICHET_PKCS11_MODULE, GUICHET_PKCS11_TOKEN_LABEL, GUICHET_PKCS11_PIN,
GUICHET_PKCS11_KEY_PREFIX.
"""

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.conf import settings

from guichet.vault.errors import (
    KeyMissing,
    ProviderUnavailable,
    TamperedCiphertext,
    VaultMisconfigured,
)
from guichet.vault.providers.base import KeyProvider, register_provider

if TYPE_CHECKING:
    from pkcs11 import Session

DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
# Errors that say "this wrapped blob is not a valid key under that KEK" rather than "the token is
# gone". SoftHSM2 reports a failed integrity check of AES key wrap as CKR_GENERAL_ERROR.
_BAD_WRAPPED = (
    "WrappedKeyInvalid",
    "WrappedKeyLenRange",
    "EncryptedDataInvalid",
    "EncryptedDataLenRange",
    "DataInvalid",
    "GeneralError",
)


def module_path() -> str:
    return str(getattr(settings, "GUICHET_PKCS11_MODULE", DEFAULT_MODULE) or DEFAULT_MODULE)


@register_provider
class Pkcs11KeyProvider(KeyProvider):
    name = "pkcs11"

    def __init__(self) -> None:
        self.module = module_path()
        self.token_label = str(getattr(settings, "GUICHET_PKCS11_TOKEN_LABEL", "guichet"))
        self.pin = getattr(settings, "GUICHET_PKCS11_PIN", None)
        self.prefix = str(getattr(settings, "GUICHET_PKCS11_KEY_PREFIX", "guichet-kek"))
        self._session: Session | None = None
        self._keks: dict[int, Any] = {}
        self._lock = threading.Lock()

    def label(self, version: int) -> str:
        return f"{self.prefix}-v{version}"

    def create_version(self, version: int) -> None:
        import pkcs11

        with self._open() as session:
            if self._find(session, version) is not None:
                return
            session.generate_key(
                pkcs11.KeyType.AES,
                256,
                label=self.label(version),
                id=version.to_bytes(4, "big"),
                store=True,
                capabilities=pkcs11.MechanismFlag.WRAP | pkcs11.MechanismFlag.UNWRAP,
                template={
                    pkcs11.Attribute.EXTRACTABLE: False,
                    pkcs11.Attribute.SENSITIVE: True,
                    pkcs11.Attribute.PRIVATE: True,
                },
            )

    def has_version(self, version: int) -> bool:
        with self._open() as session:
            return self._find(session, version) is not None

    def wrap(self, version: int, dek: bytes) -> bytes:
        import pkcs11

        with self._open() as session:
            kek = self._kek(session, version)
            temporary = session.create_object(
                {
                    pkcs11.Attribute.CLASS: pkcs11.ObjectClass.SECRET_KEY,
                    pkcs11.Attribute.KEY_TYPE: pkcs11.KeyType.AES,
                    pkcs11.Attribute.VALUE: dek,
                    pkcs11.Attribute.TOKEN: False,
                    pkcs11.Attribute.EXTRACTABLE: True,
                    pkcs11.Attribute.SENSITIVE: False,
                }
            )
            try:
                return bytes(kek.wrap_key(temporary, mechanism=pkcs11.Mechanism.AES_KEY_WRAP_PAD))
            finally:
                temporary.destroy()

    def unwrap(self, version: int, wrapped: bytes) -> bytes:
        import pkcs11

        with self._open(unwrapping=True) as session:
            kek = self._kek(session, version)
            temporary = kek.unwrap_key(
                pkcs11.ObjectClass.SECRET_KEY,
                pkcs11.KeyType.AES,
                wrapped,
                mechanism=pkcs11.Mechanism.AES_KEY_WRAP_PAD,
                template={
                    pkcs11.Attribute.TOKEN: False,
                    pkcs11.Attribute.EXTRACTABLE: True,
                    pkcs11.Attribute.SENSITIVE: False,
                },
            )
            try:
                return bytes(temporary[pkcs11.Attribute.VALUE])
            finally:
                temporary.destroy()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _kek(self, session: "Session", version: int) -> Any:
        kek = self._keks.get(version)
        if kek is None:
            kek = self._find(session, version)
            if kek is None:
                raise KeyMissing(
                    f"HSM KEK {self.label(version)!r} is not on token {self.token_label!r}."
                )
            self._keks[version] = kek
        return kek

    def _find(self, session: "Session", version: int) -> Any:
        import pkcs11

        found = list(
            session.get_objects(
                {
                    pkcs11.Attribute.CLASS: pkcs11.ObjectClass.SECRET_KEY,
                    pkcs11.Attribute.LABEL: self.label(version),
                }
            )
        )
        return found[0] if found else None

    @contextmanager
    def _open(self, unwrapping: bool = False) -> Iterator["Session"]:
        import pkcs11.exceptions as p11

        with self._lock:
            try:
                yield self._ensure_session()
            except p11.PKCS11Error as error:
                kind = type(error).__name__
                if unwrapping and kind in _BAD_WRAPPED:
                    raise TamperedCiphertext(
                        f"The HSM rejected the wrapped data key ({kind})."
                    ) from error
                self._drop()
                raise ProviderUnavailable(f"HSM operation failed: {kind} {error}") from error

    def _ensure_session(self) -> "Session":
        if self._session is not None:
            return self._session
        if not self.pin:
            raise VaultMisconfigured("GUICHET_PKCS11_PIN is not set for the pkcs11 key provider.")
        import pkcs11

        try:
            library = pkcs11.lib(self.module)
        except Exception as error:  # the binding raises bare RuntimeError/OSError here
            raise ProviderUnavailable(
                f"Cannot load PKCS#11 module {self.module}: {error}"
            ) from error
        try:
            token = library.get_token(token_label=self.token_label)
        except pkcs11.exceptions.NoSuchToken as error:
            raise ProviderUnavailable(f"No HSM token labelled {self.token_label!r}.") from error
        self._session = token.open(rw=True, user_pin=str(self.pin))
        return self._session

    def _drop(self) -> None:
        session, self._session = self._session, None
        self._keks.clear()
        if session is not None:
            # The session is being thrown away because it broke; closing it may fail too.
            with contextlib.suppress(Exception):
                session.close()
