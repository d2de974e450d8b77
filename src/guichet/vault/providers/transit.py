"""KEKs in an OpenBao (or HashiCorp Vault) transit secrets engine, over its HTTP API.

Each KEK version N is its own transit key named `<prefix>-v<N>` (type aes256-gcm96, not
exportable), so retiring a version is retiring a key, and the transit engine's own per-key
versioning is left alone. Data keys are wrapped with `POST /v1/<mount>/encrypt/<name>` and
unwrapped with `POST /v1/<mount>/decrypt/<name>`; the stored wrapped bytes are the engine's
`vault:v1:...` ciphertext string. Requests carry the token in `X-Vault-Token`.

It speaks the documented API with the standard library rather than hvac: the calls are the same
ones hvac makes, and the platform gains no dependency for an optional backend. No OpenBao server
can be installed in this workplace, so the tests run against an in-repo fake that follows the
documented request and response shapes (tests/fake_transit.py); check against a real OpenBao
before production use.

Settings: GUICHET_TRANSIT_URL (https://bao.example:8200), GUICHET_TRANSIT_TOKEN,
GUICHET_TRANSIT_MOUNT (transit), GUICHET_TRANSIT_KEY_PREFIX (guichet-kek),
GUICHET_TRANSIT_CA_FILE (optional CA bundle), GUICHET_TRANSIT_TIMEOUT (seconds, 5).
"""

import base64
import binascii
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from django.conf import settings

from guichet.vault.errors import (
    KeyMissing,
    ProviderUnavailable,
    TamperedCiphertext,
    VaultMisconfigured,
)
from guichet.vault.providers.base import KeyProvider, register_provider


@register_provider
class TransitKeyProvider(KeyProvider):
    name = "transit"

    def __init__(self) -> None:
        self.url = str(getattr(settings, "GUICHET_TRANSIT_URL", "") or "").rstrip("/")
        self.token = getattr(settings, "GUICHET_TRANSIT_TOKEN", None)
        self.mount = str(getattr(settings, "GUICHET_TRANSIT_MOUNT", "transit")).strip("/")
        self.prefix = str(getattr(settings, "GUICHET_TRANSIT_KEY_PREFIX", "guichet-kek"))
        self.timeout = float(getattr(settings, "GUICHET_TRANSIT_TIMEOUT", 5))
        ca_file = getattr(settings, "GUICHET_TRANSIT_CA_FILE", None)
        tls = ssl.create_default_context(cafile=ca_file) if ca_file else None
        # No proxy from the environment: wrapped keys go straight to the key service, never
        # through a host the residency configuration does not know about.
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=tls)
        )

    def key_name(self, version: int) -> str:
        return f"{self.prefix}-v{version}"

    def create_version(self, version: int) -> None:
        self._call("POST", f"keys/{self.key_name(version)}", {"type": "aes256-gcm96"})

    def has_version(self, version: int) -> bool:
        try:
            self._call("GET", f"keys/{self.key_name(version)}")
        except KeyMissing:
            return False
        return True

    def wrap(self, version: int, dek: bytes) -> bytes:
        body = {"plaintext": base64.b64encode(dek).decode()}
        data = self._call("POST", f"encrypt/{self.key_name(version)}", body)
        return str(data["ciphertext"]).encode()

    def unwrap(self, version: int, wrapped: bytes) -> bytes:
        try:
            ciphertext = wrapped.decode("ascii")
        except UnicodeDecodeError as error:
            raise TamperedCiphertext("The wrapped data key is not a transit ciphertext.") from error
        data = self._call("POST", f"decrypt/{self.key_name(version)}", {"ciphertext": ciphertext})
        try:
            return base64.b64decode(str(data["plaintext"]), validate=True)
        except (KeyError, binascii.Error) as error:
            raise ProviderUnavailable("The transit engine answered without a plaintext.") from error

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if not self.url.startswith(("https://", "http://")):
            raise VaultMisconfigured("GUICHET_TRANSIT_URL must be an http(s) URL.")
        if not self.token:
            raise VaultMisconfigured("GUICHET_TRANSIT_TOKEN is not set for the transit provider.")
        url = f"{self.url}/v1/{self.mount}/{urllib.parse.quote(path)}"
        request = urllib.request.Request(  # noqa: S310 (scheme checked above)
            url,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"X-Vault-Token": str(self.token), "Content-Type": "application/json"},
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            raise _refusal(error, path) from error
        except (urllib.error.URLError, OSError) as error:
            raise ProviderUnavailable(
                f"Transit engine unreachable at {self.url}: {error}"
            ) from error
        if not payload:
            return {}
        return json.loads(payload).get("data") or {}


def _refusal(error: urllib.error.HTTPError, path: str) -> Exception:
    try:
        messages = json.loads(error.read() or b"{}").get("errors") or []
    except ValueError:
        messages = []
    detail = "; ".join(str(message) for message in messages) or error.reason
    if error.code == 404 or "not found" in detail:
        return KeyMissing(f"Transit key for {path!r} not found: {detail}")
    if error.code == 400 and path.startswith("decrypt/"):
        return TamperedCiphertext(f"The transit engine rejected the wrapped data key: {detail}")
    return ProviderUnavailable(f"Transit engine refused {path!r} ({error.code}): {detail}")
