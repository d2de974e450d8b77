"""Every way the vault refuses: one exception family, so callers never receive garbage as data.

Domain apps catch `VaultError` at their access layer and turn it into a clean failure of the
request (an error page or an API error), never into a partial write.
"""


class VaultError(Exception):
    """Base class: the vault could not do what was asked, and nothing was returned or written."""


class KeyMissing(VaultError):
    """The data key or key-encryption key a ciphertext needs does not exist (any more)."""


class KeyDestroyed(KeyMissing):
    """The owner's data key was crypto-shredded: its data is gone for good."""


class KeyRetired(VaultError):
    """The key-encryption key version was retired and may no longer unwrap anything."""


class TamperedCiphertext(VaultError):
    """The ciphertext (or a wrapped key) is malformed, altered, truncated or in the wrong place."""


class ProviderUnavailable(VaultError):
    """The key provider (HSM, key service) could not be reached or failed; retry later."""


class VaultMisconfigured(VaultError):
    """The key setup is unsafe or inconsistent (loose file modes, unknown provider, lost key)."""


class InvalidIndexValue(VaultError, ValueError):
    """A value given to a blind index normalises to nothing usable (no digits, no address)."""
