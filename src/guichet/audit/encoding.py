"""Canonical bytes of an audit event: what the Merkle leaf hashes and what exports contain.

Format, version 1
=================

An event's canonical bytes are one JSON object, UTF-8 encoded, with:

* no whitespace outside strings (separators "," and ":");
* object keys sorted by Unicode code point, at every depth;
* strings written as JSON strings with only the mandatory escapes: quotation mark, reverse
  solidus and the control characters U+0000 to U+001F (as \\n, \\t, ... or \\u00XX, lower-case
  hex); every other character, non-ASCII included, is written as itself in UTF-8;
* integers in plain decimal; no floating-point numbers anywhere.

This is exactly Python's ``json.dumps(event, sort_keys=True, separators=(",", ":"),
ensure_ascii=False).encode()``. Because control characters are always escaped, the bytes never
contain a newline, so an export writes one event per line.

The object has exactly these members:

=============  ========  ==================================================================
key            type      meaning
=============  ========  ==================================================================
action         integer   what happened, a code from ``guichet.audit.models.Action``
actor_id       string    who acted (an account id), "" for the platform itself
actor_kind     string    "citizen", "agent", "system" or "partner"
actor_name     string    the actor's name at the time (a snapshot)
details        object    small action-specific facts (strings, integers, booleans, null,
                         arrays and objects of those; integers within +-(2**53 - 1))
object_id      string    the object acted on, "" if none
object_type    string    its kind ("dossier", "attachment", "token", ...), "" if none
org_id         string    the actor's organisation, "" if none
org_name       string    its name at the time
purpose        string    why: the purpose or legal basis given for the access
request_id     string    the HTTP request (X-Request-ID) it came from, "" if none
salt           string    32 random hex digits, so a published leaf hash cannot be confirmed
                         by guessing an event's content
seq            integer   the sequence number, equal to the leaf index (0 for the first event)
subject_id     string    the person whose data it is (an account id), "" if none
time           string    UTC, "YYYY-MM-DDTHH:MM:SS.ffffffZ", always six fraction digits
v              integer   1, the version of this format
=============  ========  ==================================================================

The Merkle leaf of the event is SHA-256(0x00 || canonical bytes) (RFC 9162 §2.1.1).

Storage: every member is a column of ``audit_auditevent`` (``time`` and ``details`` hold the
canonical text itself), so the bytes are rebuilt from a row without any parsing, and nothing a
database does to dates or JSON values can change them.
"""

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

FORMAT_VERSION = 1
MAX_SAFE_INTEGER = 2**53 - 1
MAX_DETAILS_BYTES = 4096
MAX_DEPTH = 8

# Columns of AuditEvent in the order `canonical_event` takes them. `time` and `details` are
# stored already in canonical form (see models.py), so the bytes are rebuilt without parsing.
FIELDS = (
    "action",
    "actor_id",
    "actor_kind",
    "actor_name",
    "details",
    "object_id",
    "object_type",
    "org_id",
    "org_name",
    "purpose",
    "request_id",
    "salt",
    "seq",
    "subject_id",
    "time",
)
EventFields = tuple[int, str, str, str, str, str, str, str, str, str, str, str, int, str, str]

# The members in sorted key order; `canonical_event` must equal canonical_json() of the same
# object, which the tests check on random events.
_TEMPLATE = (
    '{"action":%d,"actor_id":%s,"actor_kind":%s,"actor_name":%s,"details":%s,"object_id":%s,'
    '"object_type":%s,"org_id":%s,"org_name":%s,"purpose":%s,"request_id":%s,"salt":%s,'
    '"seq":%d,"subject_id":%s,"time":%s,"v":' + str(FORMAT_VERSION) + "}"
)
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class EncodingError(ValueError):
    pass


def format_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise EncodingError("event times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def canonical_json(value: Any) -> str:
    return _CANONICAL.encode(value)


def canonical_event(values: EventFields) -> bytes:
    """The canonical bytes of an event from its column values in `FIELDS` order.

    Hot path of `guichet audit verify` (a million calls): string formatting with the JSON
    encoder's own C string escaper, rather than building and serialising a dict.

    `details` is spliced in as stored, unparsed. That is still one-to-one: every member after it
    is an integer or an escaped string, whose quotes fix where each member ends, so no other
    row can produce the same bytes by moving text into or out of `details`.
    """
    s = encode_basestring
    (action, actor_id, actor_kind, actor_name, details, object_id, object_type, org_id,
     org_name, purpose, request_id, salt, seq, subject_id, time) = values  # fmt: skip
    return (
        _TEMPLATE
        % (
            action,
            s(actor_id),
            s(actor_kind),
            s(actor_name),
            details,
            s(object_id),
            s(object_type),
            s(org_id),
            s(org_name),
            s(purpose),
            s(request_id),
            s(salt),
            seq,
            s(subject_id),
            s(time),
        )
    ).encode()


def event_object(values: EventFields) -> dict[str, Any]:
    """The event as the JSON object its canonical bytes encode (the slow, obvious route)."""
    event: dict[str, Any] = dict(zip(FIELDS, values, strict=True))
    event["details"] = json.loads(event["details"])
    event["v"] = FORMAT_VERSION
    return event


def check_text(value: str, field: str, max_length: int) -> str:
    """Refuse what the database would store differently from what was hashed."""
    if not isinstance(value, str):
        raise EncodingError(f"{field} must be a string")
    if len(value) > max_length:
        raise EncodingError(f"{field} is longer than {max_length} characters")
    if "\x00" in value:
        raise EncodingError(f"{field} contains a NUL character")  # PostgreSQL cannot store it
    try:
        value.encode()
    except UnicodeEncodeError as error:
        raise EncodingError(f"{field} is not valid Unicode") from error
    return value


def details_json(details: Mapping[str, Any]) -> str:
    """The canonical JSON text of an event's details. Only plain JSON values are accepted:
    floats have no single canonical text, so they are refused."""
    text = canonical_json(_check_value(dict(details), "details", 0))
    if len(text.encode()) > MAX_DETAILS_BYTES:
        raise EncodingError(f"details are larger than {MAX_DETAILS_BYTES} bytes")
    return text


def _check_value(value: Any, where: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise EncodingError(f"{where} is nested too deeply")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise EncodingError(f"{where} is an integer too large for JSON readers")
        return value
    if isinstance(value, str):
        return check_text(value, where, MAX_DETAILS_BYTES)
    if isinstance(value, list | tuple):
        return [_check_value(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        checked = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise EncodingError(f"{where} has a key that is not a string")
            check_text(key, f"{where} key", 200)
            checked[key] = _check_value(item, f"{where}.{key}", depth + 1)
        return checked
    raise EncodingError(f"{where} holds a {type(value).__name__}, not a JSON string/int/bool")
