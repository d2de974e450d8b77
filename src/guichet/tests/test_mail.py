"""guichet.mail: notifications composed cheaply must reach a mail server as Django's would."""

import email
import email.message
import email.policy
from pathlib import Path

import pytest
from django.core.mail import EmailMessage
from django.core.mail.backends.filebased import EmailBackend as FileBackend

from guichet.mail import PlainTextEmail

SUBJECT = "Dossier GCH-2026-000123 : déposé, « Extrait d'acte de naissance » et un long titre"
BODY = (
    "Bonjour Awa Diop,\n\nVotre dossier « Extrait d'acte de naissance » a été déposé.\n"
    "Suivez-le ici : http://127.0.0.1:8000/dossiers/6f1c2b4e-1111-2222-3333-444455556666/\n"
    ".\nGuichet\n"
)


def _parse(raw: bytes) -> email.message.EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def _plain(**overrides: object) -> PlainTextEmail:
    fields: dict[str, object] = {
        "subject": SUBJECT,
        "body": BODY,
        "to": ["awa.diop@example.sn", "moussa.fall@example.sn"],
    }
    fields.update(overrides)
    return PlainTextEmail(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("policy", [email.policy.default, email.policy.SMTP])
def test_a_plain_email_reads_back_whole(policy: email.policy.Policy) -> None:
    raw = _plain().message(policy=policy).as_bytes()

    parsed = _parse(raw)
    assert parsed["Subject"] == SUBJECT
    assert parsed["To"] == "awa.diop@example.sn, moussa.fall@example.sn"
    assert parsed["From"] == "Guichet <no-reply@guichet.localhost>"
    assert parsed["Date"].datetime.utcoffset() is not None  # an aware date, as Django's
    assert parsed["Message-ID"].startswith("<") and parsed["Message-ID"].endswith(">")
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content_charset() == "utf-8"
    assert parsed.get_content().replace("\r\n", "\n") == BODY
    assert raw.isascii()  # safe for a server without SMTPUTF8 or 8BITMIME
    assert all(len(line) <= 78 for line in raw.splitlines())


def test_smtp_gets_crlf_line_endings_only() -> None:
    raw = _plain().message(policy=email.policy.SMTP).as_bytes()

    assert raw.count(b"\n") == raw.count(b"\r\n") > 10


def test_it_carries_what_djangos_composition_carries() -> None:
    ours = _parse(_plain().message().as_bytes())
    django = _parse(EmailMessage(subject=SUBJECT, body=BODY, to=_plain().to).message().as_bytes())

    fields = ("Subject", "From", "To", "Content-Type", "MIME-Version")
    assert {name: str(ours[name]) for name in fields} == {
        name: str(django[name]) for name in fields
    }
    assert ours.get_content() == django.get_content()


@pytest.mark.parametrize(
    "overrides",
    [
        {"subject": "Dossier déposé\nBcc: everyone@example.sn"},
        {"subject": "Dossier\r\nX-Injected: 1"},
        {"to": ["awa.diop@example.sn\nBcc: everyone@example.sn"]},
        {"from_email": "Guichet <no-reply@guichet.localhost>\nBcc: x@example.sn"},
    ],
)
def test_a_line_break_in_a_header_is_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="line breaks"):
        _plain(**overrides).message()


@pytest.mark.parametrize(
    "overrides",
    [
        {"cc": ["cc@example.sn"]},
        {"reply_to": ["reply@example.sn"]},
        {"headers": {"X-Procedure": "extrait"}},
        {"to": ["awa@sénégal.example"]},
        {"attachments": [("note.txt", "Bonjour", "text/plain")]},
    ],
)
def test_what_it_does_not_compose_goes_through_django(overrides: dict[str, object]) -> None:
    composed = _plain(**overrides).message()
    parsed = _parse(composed.as_bytes())

    assert parsed["Subject"] == SUBJECT
    if "cc" in overrides:
        assert parsed["Cc"] == "cc@example.sn"
    if "reply_to" in overrides:
        assert parsed["Reply-To"] == "reply@example.sn"
    if "headers" in overrides:
        assert parsed["X-Procedure"] == "extrait"
    if "to" in overrides:
        assert parsed["To"] == "awa@xn--sngal-bsab.example"  # Django's IDNA encoding
    if "attachments" in overrides:
        assert [part.get_filename() for part in parsed.iter_attachments()] == ["note.txt"]


def test_the_file_backend_writes_it(tmp_path: Path) -> None:
    backend = FileBackend(file_path=str(tmp_path))

    assert backend.send_messages([_plain(), _plain(to=["b@example.sn"])]) == 2

    (written,) = tmp_path.iterdir()
    first, second, _ = written.read_bytes().split(b"-" * 79 + b"\n")
    assert _parse(first)["To"] == "awa.diop@example.sn, moussa.fall@example.sn"
    assert _parse(second)["To"] == "b@example.sn"
    assert _parse(second).get_content() == BODY + "\n"  # the backend ends each with a newline
