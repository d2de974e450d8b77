"""`guichet audit export DIR`: the log as files an auditor can check without Guichet.

DIR/events.jsonl        one event per line: its canonical bytes (encoding.py), in sequence
                        order, each line ending in 0x0A; line i is entry i of the tree
DIR/checkpoints/<size>  every signed checkpoint, verbatim
DIR/log.vkey            the log's signed-note verifier key ("name+keyid+base64(0x01||key)")
DIR/README.txt          this description and how to run tools/verify_log.py

The export holds personal data (the events): hand it only to those entitled to audit.
"""

from pathlib import Path

from guichet.audit import encoding, keys, service
from guichet.audit.models import AuditEvent, Checkpoint
from guichet.audit.verify import CHUNK, raw_rows

README = """Guichet transparency log export
===============================

events.jsonl      one event a line: the exact bytes hashed into the Merkle tree,
                  leaf = SHA-256(0x00 || line without its final newline) (RFC 9162)
checkpoints/      signed checkpoints (C2SP tlog-checkpoint, signed-note, Ed25519)
log.vkey          the log's public key as a signed-note verifier key

Check it with:    python3 verify_log.py {directory} --key '<verifier key from a trusted source>'
(standard library + the `cryptography` package). Without --key, log.vkey from this
directory is trusted, which only proves the export is self-consistent.

Log: {origin}   Entries: {size}   Checkpoints: {checkpoints}
"""


class ExportError(RuntimeError):
    pass


def export_log(directory: Path) -> tuple[int, int]:
    """Write the export; return (entries, checkpoints)."""
    if directory.exists() and any(directory.iterdir()):
        raise ExportError(f"{directory} is not empty")
    # Checkpoints first, then the size: in an honest log the events read next cover every
    # checkpoint written, so a checkpoint larger than the export can only mean a truncation.
    checkpoints = list(Checkpoint.objects.order_by("tree_size"))
    size = service.tree_size()  # a snapshot: later appends are left for the next export
    (directory / "checkpoints").mkdir(parents=True, exist_ok=True)
    with (directory / "events.jsonl").open("wb") as out:
        for start in range(0, size, CHUNK):
            events = (
                AuditEvent.objects.filter(seq__gte=start, seq__lt=min(start + CHUNK, size))
                .order_by("seq")
                .values_list(*encoding.FIELDS)
            )
            out.writelines(encoding.canonical_event(row) + b"\n" for row in raw_rows(events))
    for checkpoint in checkpoints:
        path = directory / "checkpoints" / str(checkpoint.tree_size)
        path.write_text(checkpoint.note, encoding="utf-8", newline="")
    count = len(checkpoints)
    origin = keys.log_origin()
    (directory / "log.vkey").write_text(keys.verifier_key() + "\n", encoding="utf-8")
    (directory / "README.txt").write_text(
        README.format(directory=directory, origin=origin, size=size, checkpoints=count),
        encoding="utf-8",
    )
    return size, count
