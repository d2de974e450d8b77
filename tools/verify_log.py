#!/usr/bin/env python3
"""Verify an export of Guichet's transparency log, without Guichet.

Needs only Python 3.10+ and the `cryptography` package. It reads what `guichet audit export DIR`
writes:

  DIR/events.jsonl     one event a line, the exact bytes that were hashed (leaf i = line i)
  DIR/checkpoints/*    signed checkpoints (C2SP tlog-checkpoint in a C2SP signed note)
  DIR/log.vkey         the log's verifier key, "<name>+<hex key ID>+<base64(0x01 || key)>"

and checks, following RFC 9162 §2.1 and the C2SP specifications, written afresh here so that it
shares no code with the server:

  * every checkpoint is signed by the trusted Ed25519 key and names the log;
  * line i is the event with sequence number i (nothing deleted, inserted or reordered);
  * the Merkle tree hash of the first n lines equals the root signed in each checkpoint of
    size n (nothing altered), and no checkpoint is larger than the export (nothing truncated);
  * each checkpoint is consistent with the previous one (RFC 9162 §2.1.4 proof, built from
    the lines and checked against the two signed roots).

Usage:  verify_log.py DIR [--key VKEY] [--checkpoint FILE ...]
        verify_log.py --proofs FILE [--key VKEY]

The second form checks a person's download from "Who used my data" (the page's JSON download or
GET /api/v1/me/access-log/proofs): the checkpoint is signed by the log's key, and each event's
bytes hash to a leaf that the RFC 9162 §2.1.3 inclusion proof ties to the checkpoint's root, at
the index the event claims, about the person the file names.

Pass --key with the log's verifier key obtained from a source you trust (the operator's
publication, a witness); without it DIR/log.vkey is used, which only shows that the export is
consistent with itself. Exit status: 0 when everything verifies, 1 otherwise, naming the first
bad entry.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import itertools
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ED25519 = b"\x01"


class Failure(Exception):
    def __init__(self, message: str, entry: int | None = None) -> None:
        super().__init__(message)
        self.entry = entry


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hash_leaf(entry: bytes) -> bytes:
    return sha256(b"\x00" + entry)


def hash_children(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def largest_power_of_two_below(n: int) -> int:
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


# --- Keys and signed notes ----------------------------------------------------------------------


@dataclass
class Verifier:
    name: str
    key_id: bytes
    key: Ed25519PublicKey


def read_verifier_key(text: str) -> Verifier:
    parts = text.strip().split("+", 2)  # the base64 key may itself contain "+"
    if len(parts) != 3:
        raise Failure("the verifier key is not of the form name+keyid+key")
    name, hex_id, encoded = parts
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error as error:
        raise Failure("the verifier key is not valid base64") from error
    if len(raw) != 33 or raw[:1] != ED25519:
        raise Failure("the verifier key is not an Ed25519 key")
    key_id = sha256(name.encode() + b"\n" + raw)[:4]
    if key_id.hex() != hex_id.lower():
        raise Failure("the verifier key's ID does not match its name and key")
    return Verifier(name, key_id, Ed25519PublicKey.from_public_bytes(raw[1:]))


@dataclass
class SignedCheckpoint:
    label: str
    size: int
    root: bytes


def open_checkpoint(note: str, verifier: Verifier, label: str) -> SignedCheckpoint:
    """Check the note's signature by the trusted key, then read the checkpoint it carries."""
    if not note.endswith("\n") or "\n\n" not in note:
        raise Failure(f"{label}: not a signed note")
    separator = note.rindex("\n\n")
    text, signatures = note[: separator + 1], note[separator + 2 :].splitlines()
    verified = False
    for line in signatures:
        if not line.startswith("\u2014 "):
            raise Failure(f"{label}: malformed signature line")
        fields = line[2:].split(" ")
        if len(fields) != 2:
            raise Failure(f"{label}: malformed signature line")
        try:
            blob = base64.b64decode(fields[1], validate=True)
        except binascii.Error as error:
            raise Failure(f"{label}: malformed signature") from error
        if fields[0] != verifier.name or blob[:4] != verifier.key_id:
            continue  # someone else's signature (a witness): not ours to check
        try:
            verifier.key.verify(blob[4:], text.encode())
        except InvalidSignature as error:
            raise Failure(
                f"{label}: the log's signature does not verify (forged or altered)"
            ) from error
        verified = True
    if not verified:
        raise Failure(f"{label}: not signed by {verifier.name}")
    lines = text.split("\n")
    if len(lines) < 4:
        raise Failure(f"{label}: a checkpoint needs an origin, a size and a root hash")
    if lines[0] != verifier.name:
        raise Failure(f"{label}: the checkpoint belongs to another log ({lines[0]})")
    if not lines[1].isdigit():
        raise Failure(f"{label}: the tree size is not a number")
    try:
        root = base64.b64decode(lines[2], validate=True)
    except binascii.Error as error:
        raise Failure(f"{label}: the root hash is not base64") from error
    if len(root) != 32:
        raise Failure(f"{label}: the root hash is not 32 bytes")
    return SignedCheckpoint(label, int(lines[1]), root)


# --- The tree, rebuilt from the lines -------------------------------------------------------------


class Tree:
    """Every perfect subtree hash of the log, level by level, so that MTH of any range of the
    RFC's recursions is at hand."""

    def __init__(self) -> None:
        self.levels: list[list[bytes]] = [[]]

    def add(self, leaf: bytes) -> None:
        self.levels[0].append(leaf)
        level = 0
        while len(self.levels[level]) % 2 == 0:
            below = self.levels[level]
            if level + 1 == len(self.levels):
                self.levels.append([])
            self.levels[level + 1].append(hash_children(below[-2], below[-1]))
            level += 1

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def mth(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) per RFC 9162 §2.1.1."""
        n = end - start
        if n == 0:
            return sha256(b"")
        if n & (n - 1) == 0 and start % n == 0:
            return self.levels[n.bit_length() - 1][start // n]
        k = largest_power_of_two_below(n)
        return hash_children(self.mth(start, start + k), self.mth(start + k, end))

    def consistency(self, m: int, n: int) -> list[bytes]:
        """PROOF(m, D[n]) per RFC 9162 §2.1.4.1."""
        return self._subproof(m, 0, n, True)

    def _subproof(self, m: int, start: int, end: int, whole: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if whole else [self.mth(start, end)]
        k = largest_power_of_two_below(n)
        if m <= k:
            return [*self._subproof(m, start, start + k, whole), self.mth(start + k, end)]
        return [*self._subproof(m - k, start + k, end, False), self.mth(start, start + k)]


def verify_consistency(
    first: int, second: int, first_hash: bytes, second_hash: bytes, path: list[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2."""
    if first == second:
        return not path and first_hash == second_hash
    if first == 0:
        return True
    if not path:
        return False
    if first & (first - 1) == 0:
        path = [first_hash, *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = hash_children(c, fr)
            sr = hash_children(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = hash_children(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0


def verify_inclusion(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2."""
    if index >= size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = hash_children(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def read_tlog_proof(text: str, label: str) -> tuple[int, list[bytes], str]:
    """(index, path, checkpoint note) of a c2sp.org/tlog-proof@v1."""
    head, separator, note = text.partition("\n\n")
    lines = head.split("\n")
    if not separator or not lines or lines[0] != "c2sp.org/tlog-proof@v1":
        raise Failure(f"{label}: not a c2sp.org/tlog-proof@v1")
    rest = lines[1:]
    if rest and rest[0].startswith("extra "):
        rest = rest[1:]
    if not rest or not rest[0].startswith("index ") or not rest[0][6:].isdigit():
        raise Failure(f"{label}: the proof has no index line")
    try:
        path = [base64.b64decode(line, validate=True) for line in rest[1:]]
    except binascii.Error as error:
        raise Failure(f"{label}: a proof hash is not base64") from error
    if any(len(node) != 32 for node in path):
        raise Failure(f"{label}: a proof hash is not 32 bytes")
    return int(rest[0][6:]), path, note


def verify_proofs(bundle_path: Path, vkey: str) -> tuple[int, int, list[str]]:
    """(events proven, tree size, warnings) for a person's download; Failure names the entry."""
    try:
        bundle = json.loads(bundle_path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise Failure("the file is not JSON") from error
    if not isinstance(bundle, dict) or bundle.get("format") != "guichet-access-proofs/1":
        raise Failure("not a Guichet access-log download (guichet-access-proofs/1)")
    verifier = read_verifier_key(vkey)
    subject = bundle.get("subject")
    events = bundle.get("events") or []
    warnings = []
    if bundle.get("not_yet_covered"):
        count = len(bundle["not_yet_covered"])
        warnings.append(f"{count} events are newer than the checkpoint: download again later")
    if not events:
        return 0, 0, warnings
    checkpoint = open_checkpoint(str(bundle.get("checkpoint")), verifier, "the checkpoint")
    for item in events:
        index = item.get("index")
        label = f"entry {index}"
        try:
            entry = base64.b64decode(item["entry"], validate=True)
            event = json.loads(entry)
        except (KeyError, TypeError, ValueError, binascii.Error) as error:
            raise Failure(f"{label}: the event bytes are unreadable", index) from error
        if not isinstance(event, dict) or event.get("seq") != index:
            raise Failure(f"{label}: the event says it is entry {event.get('seq')}", index)
        if event.get("subject_id") != subject:
            raise Failure(f"{label}: the event is about someone else", index)
        if item.get("event") != event:
            raise Failure(f"{label}: the readable event differs from the hashed bytes", index)
        leaf = hash_leaf(entry)
        if item.get("leaf_hash") != leaf.hex():
            raise Failure(f"{label}: the leaf hash does not match the event bytes", index)
        proof_index, path, note = read_tlog_proof(str(item.get("proof")), label)
        if proof_index != index:
            raise Failure(f"{label}: the proof is for entry {proof_index}", index)
        if note != bundle.get("checkpoint"):
            raise Failure(f"{label}: the proof is against another checkpoint", index)
        if not verify_inclusion(index, checkpoint.size, leaf, path, checkpoint.root):
            raise Failure(f"{label}: the inclusion proof does not verify (altered entry)", index)
    return len(events), checkpoint.size, warnings


# --- The whole check ----------------------------------------------------------------------------


def verify(
    directory: Path, vkey: str, extra_checkpoints: list[Path]
) -> tuple[int, bytes, int, list[str]]:
    """(entries, root, checkpoints, warnings); raises Failure naming the first bad entry."""
    verifier = read_verifier_key(vkey)
    checkpoints = []
    folder = directory / "checkpoints"
    files = sorted(folder.iterdir(), key=lambda p: p.name) if folder.is_dir() else []
    for path in [*files, *extra_checkpoints]:
        checkpoints.append(
            open_checkpoint(path.read_text(encoding="utf-8"), verifier, f"checkpoint {path.name}")
        )
    checkpoints.sort(key=lambda c: c.size)
    wanted: dict[int, list[SignedCheckpoint]] = {}
    for checkpoint in checkpoints:
        wanted.setdefault(checkpoint.size, []).append(checkpoint)
    tree = Tree()
    good = 0  # the log up to here matches a checkpoint
    for checkpoint in wanted.get(0, []):
        if checkpoint.root != sha256(b""):
            raise Failure(f"{checkpoint.label} does not match the empty log", 0)
    with (directory / "events.jsonl").open("rb") as lines:
        for number, line in enumerate(lines):
            entry = line[:-1] if line.endswith(b"\n") else line
            try:
                seq = json.loads(entry)["seq"]
            except (ValueError, KeyError, TypeError) as error:
                raise Failure("the line is not an event", number) from error
            if seq != number:
                raise Failure(
                    f"line {number} holds entry {seq}: an entry was deleted, inserted or moved",
                    number,
                )
            tree.add(hash_leaf(entry))
            for checkpoint in wanted.get(tree.size, []):
                if tree.mth(0, tree.size) != checkpoint.root:
                    raise Failure(
                        f"{checkpoint.label} does not match: an entry between {good} and "
                        f"{tree.size - 1} was altered",
                        good,
                    )
                good = tree.size
    for checkpoint in checkpoints:
        if checkpoint.size > tree.size:
            raise Failure(
                f"{checkpoint.label} covers {checkpoint.size} entries but the export holds "
                f"{tree.size}: truncated",
                tree.size,
            )
    for older, newer in itertools.pairwise(checkpoints):
        proof = tree.consistency(older.size, newer.size) if older.size else []
        if not verify_consistency(older.size, newer.size, older.root, newer.root, proof):
            raise Failure(f"{newer.label} is not consistent with {older.label}", older.size)
    warnings = []
    if not checkpoints:
        warnings.append("no checkpoint: nothing proves these entries were logged as they are")
    elif tree.size > checkpoints[-1].size:
        uncovered = tree.size - checkpoints[-1].size
        warnings.append(f"the last {uncovered} entries are not covered by a checkpoint yet")
    return tree.size, tree.mth(0, tree.size), len(checkpoints), warnings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, nargs="?", help="an export of the whole log")
    parser.add_argument(
        "--proofs", type=Path, help="a person's download of their events with proofs (JSON)"
    )
    parser.add_argument("--key", help="the log's verifier key, from a source you trust")
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        type=Path,
        help="another checkpoint the log must match (repeatable)",
    )
    args = parser.parse_args(argv)
    out, err = sys.stdout, sys.stderr
    if args.proofs is not None:
        return _main_proofs(args.proofs, args.key)
    if args.directory is None:
        parser.error("give an export directory, or --proofs FILE")
    try:
        vkey = args.key
        if not vkey:
            vkey = (args.directory / "log.vkey").read_text(encoding="utf-8")
            err.write(
                "warning: trusting the key shipped in the export; "
                "pass --key to check it against a key you trust\n"
            )
        size, root, count, warnings = verify(args.directory, vkey, args.checkpoint)
    except Failure as failure:
        where = "" if failure.entry is None else f" first bad entry: {failure.entry};"
        err.write(f"FAILED:{where} {failure}\n")
        return 1
    except OSError as error:
        err.write(f"FAILED: cannot read the export: {error}\n")
        return 1
    for warning in warnings:
        err.write(f"warning: {warning}\n")
    out.write(f"OK: {size} entries, root {root.hex()}, {count} checkpoints verified\n")
    return 0


def _main_proofs(path: Path, key: str | None) -> int:
    out, err = sys.stdout, sys.stderr
    try:
        vkey = key
        if not vkey:
            vkey = str(json.loads(path.read_text(encoding="utf-8")).get("verifier_key", ""))
            err.write(
                "warning: trusting the key shipped in the download; "
                "pass --key to check it against the key the operator publishes\n"
            )
        count, size, warnings = verify_proofs(path, vkey)
    except Failure as failure:
        where = "" if failure.entry is None else f" first bad entry: {failure.entry};"
        err.write(f"FAILED:{where} {failure}\n")
        return 1
    except (OSError, ValueError, AttributeError) as error:
        err.write(f"FAILED: cannot read the download: {error}\n")
        return 1
    for warning in warnings:
        err.write(f"warning: {warning}\n")
    out.write(f"OK: {count} events proven in the log of {size} entries\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
