"""The vault: personal data encrypted at rest under keys the State's key service controls.

Other apps import `guichet.vault.service` only. Map of the package:

- service.py   the public API: fields, JSON, attachments, blind indexes, crypto-shredding;
- envelope.py  field ciphertext format (AES-256-GCM, bound to owner, record and field);
- streams.py   chunked attachment format, writers and a FileResponse-ready reader;
- keys.py      one data key (DEK) per owner: create, unwrap through the cache, destroy;
- cache.py     bounded, short-lived in-memory cache of unwrapped DEKs;
- blind.py     keyed blind indexes for exact search (national id, email, phone, text);
- providers/   where KEKs live: local (0600 files), pkcs11 (HSM), transit (OpenBao API);
- rotation.py  KEK rotation in resumable batches, retirement of unused versions, status;
- checks.py    system checks that refuse an unsafe or broken key setup;
- management/commands/vault.py   `guichet vault rotate|status`.

The vault imports no domain app; domain apps decide who may read, in their access.py.
"""
