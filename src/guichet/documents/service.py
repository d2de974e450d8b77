"""What other apps may use from documents: issue the decision document of a dossier, verify a
document, and the published trust and status lists.

    issue_decision_document(dossier_id) -> Document     idempotent: render, seal, time-stamp, QR
    tasks.issue_document_task.enqueue(dossier_id=...)   the same in the background, then emails
                                                        the applicant

Issuing is a system act (the background worker after a decision), not a user's: it reads the
dossier through `_dossier_facts`, the one place that knows how a dossier's content is stored.
"""

import datetime
import hashlib
import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from guichet.catalog.models import Procedure
from guichet.catalog.text import translated
from guichet.documents import actions, pki, qr, seal, wording
from guichet.documents.models import Document, DocumentKind
from guichet.documents.publication import status_list, trust_list
from guichet.documents.render import Page, date_text, render
from guichet.documents.verify import Verdict, verify_pdf, verify_qr
from guichet.dossiers import access as dossier_access
from guichet.dossiers.models import Dossier
from guichet.dossiers.workflow import State
from guichet.errors import ActionError
from guichet.identity.models import Organisation, User
from guichet.logs import request_id_var

__all__ = [
    "Verdict",
    "issue",
    "issue_decision_document",
    "status_list",
    "trust_list",
    "verify_pdf",
    "verify_qr",
]

logger = logging.getLogger(__name__)

LANGUAGES = ("fr", "en")
KIND_CODES = {str(DocumentKind.CERTIFICATE): "A", str(DocumentKind.DECISION_LETTER): "D"}


@dataclass(frozen=True)
class DossierFacts:
    """What a decision document says about its dossier, read once."""

    dossier_id: UUID
    number: str
    state: str
    organisation: Organisation
    procedure: Procedure
    applicant: User
    applicant_name: str
    language: str
    answers: dict[str, Any]
    decided_at: datetime.datetime | None
    decision_comment: str


def _dossier_facts(dossier_id: UUID) -> DossierFacts:
    """The ONE place documents read a dossier's content.

    It runs in the background worker after a decision, with no signed-in user: the platform
    issues what the decision promised. It reads through dossiers.access's reader for the
    platform itself, not as a person: reading "as the agent who decided" put a read in the
    transparency log under that agent's name, which they never made, once per attempt.
    """
    dossier = Dossier.objects.select_related(
        "procedure", "organisation", "organisation__parent", "applicant"
    ).get(pk=dossier_id)
    content = dossier_access.read_for_decision_document(dossier)
    applicant = dossier.applicant
    return DossierFacts(
        dossier_id=dossier.pk,
        number=dossier.number or "",
        # The outcome, not the state's name: workflows name their final states as they like.
        state=dossier.outcome or dossier.state,
        organisation=dossier.organisation,
        procedure=dossier.procedure,
        applicant=applicant,
        applicant_name=content.applicant_name or applicant.email,
        language=applicant.language if applicant.language in LANGUAGES else "fr",
        answers=content.answers,
        decided_at=dossier.decided_at,
        decision_comment=content.comment,
    )


def _number(facts: DossierFacts, kind: str) -> str:
    previous = Document.objects.filter(dossier_id=facts.dossier_id, kind=kind).count()
    return f"{facts.number}-{KIND_CODES[kind]}{previous + 1}"


def _page(
    facts: DossierFacts,
    kind: str,
    number: str,
    issued_at: datetime.datetime,
    expires_at: datetime.datetime | None,
    tsa_label: str,
) -> Page:
    language = facts.language
    template = wording.template_for(facts.procedure.slug)
    procedure_title = translated(facts.procedure.title, language)
    values = {
        **facts.answers,
        "procedure": procedure_title,
        "organisation": facts.organisation.name,
        "dossier_number": facts.number,
        "applicant": facts.applicant_name,
    }
    common: dict[str, Any] = {
        "language": language,
        "number": number,
        "dossier_number": facts.number,
        "organisation": facts.organisation.name,
        "parent_organisation": facts.organisation.parent.name if facts.organisation.parent else "",
        "subtitle": procedure_title,
        "applicant": facts.applicant_name,
        "legal_basis": translated(facts.procedure.legal_basis, language),
        "decided_at": date_text(facts.decided_at or issued_at, language),
        "issued_at": date_text(issued_at, language),
        "expires_at": date_text(expires_at, language) if expires_at else "",
        "verify_url": f"{settings.SITE_URL}/verifier",
        "tsa_label": tsa_label,
        "keywords": [number, facts.procedure.slug],
    }
    if kind == DocumentKind.CERTIFICATE:
        return Page(
            **common,
            title=wording.in_language(template.title, language),
            paragraphs=[wording.fill(template.granted, language, values)],
            facts=[
                (
                    wording.in_language(label, language),
                    wording.answer_text(facts.answers[name], language),
                )
                for name, label in template.facts
                if facts.answers.get(name) not in (None, "")
            ],
            reasons="",
            closing="",
            signatory=wording.in_language(template.signatory, language),
        )
    return Page(
        **common,
        title=wording.in_language(wording.REJECTION_TITLE, language),
        paragraphs=[wording.fill(wording.REJECTION_INTRO, language, values)],
        facts=[],
        reasons=facts.decision_comment,
        closing=wording.fill(wording.REJECTION_REMEDY, language, values),
        signatory=wording.in_language(wording.REJECTION_SIGNATORY, language),
    )


def _kind_for(dossier_id: UUID, state: str) -> str:
    if state == State.ACCEPTED:
        return DocumentKind.CERTIFICATE
    if state == State.REJECTED:
        return DocumentKind.DECISION_LETTER
    raise ActionError(f"Dossier {dossier_id} is not decided (state {state}).")


def kind_of(dossier_id: UUID) -> str:
    """The kind of document the dossier's decision calls for; ActionError if undecided."""
    state = Dossier.objects.values_list("state", flat=True).get(pk=dossier_id)
    return _kind_for(dossier_id, state)


def _live(dossier_id: UUID, kind: str) -> Document | None:
    return Document.objects.filter(
        dossier_id=dossier_id, kind=kind, revoked_at__isnull=True
    ).first()


def issue(dossier_id: UUID) -> tuple[Document, bool]:
    """The dossier's live decision document, issued now if it has none; True when new.

    The existing document is looked for before the dossier is read: a task run twice does not
    open the dossier's sealed content again for nothing."""
    kind = kind_of(dossier_id)
    existing = _live(dossier_id, kind)
    if existing is not None:
        return existing, False
    if request_id_var.get() != "-":
        return _issue_new(dossier_id, kind)
    # Outside a request, one id for the whole issuance: its entry in the log ("document
    # issued") and its log lines then tell which issuance they belong to.
    token = request_id_var.set(f"issue-{uuid4().hex[:16]}")
    try:
        return _issue_new(dossier_id, kind)
    finally:
        request_id_var.reset(token)


def _issue_new(dossier_id: UUID, kind: str) -> tuple[Document, bool]:
    facts = _dossier_facts(dossier_id)
    if _kind_for(dossier_id, facts.state) != kind:
        raise ActionError(f"Dossier {dossier_id} changed state while its document was issued.")
    ca, tsa = actions.ensure_platform()
    organisation_seal = actions.ensure_seal(facts.organisation)
    stamper = seal.timestamper(tsa, ca)
    external = bool(getattr(settings, "GUICHET_TSA_URL", None))
    number = _number(facts, kind)
    issued_at = timezone.now().replace(microsecond=0)
    template = wording.template_for(facts.procedure.slug)
    expires_at = (
        issued_at + datetime.timedelta(days=template.validity_days)
        if kind == DocumentKind.CERTIFICATE and template.validity_days
        else None
    )
    rendition = render(
        _page(facts, kind, number, issued_at, expires_at, "" if external else pki.TSA_NAME)
    )
    digest = hashlib.sha256(rendition).digest()
    claims = qr.Claims(
        issuer=facts.organisation.slug,
        issued_at=int(issued_at.timestamp()),
        expires_at=int(expires_at.timestamp()) if expires_at else None,
        kind=kind,
        number=number,
        holder=facts.applicant_name,
        procedure=facts.procedure.slug,
        pdf_sha256=digest,
    )
    qr_text = qr.encode(
        claims,
        bytes.fromhex(organisation_seal.kid),
        lambda message_digest: organisation_seal.store.sign_digest(
            organisation_seal.label, message_digest
        ),
    )
    sealed = seal.seal_pdf(
        rendition, qr_text, organisation_seal, ca, stamper, facts.organisation.name
    )
    issued = actions.Issued(
        dossier_id=facts.dossier_id,
        organisation_id=facts.organisation.pk,
        procedure_id=facts.procedure.pk,
        kind=kind,
        number=number,
        language=facts.language,
        issued_at=issued_at,
        expires_at=expires_at,
        pdf=sealed,
        rendition_sha256=digest.hex(),
        seal_id=organisation_seal.row_id,
    )
    try:
        return actions.do_record_document(issued), True
    except IntegrityError:
        # Another worker issued it meanwhile (same task run twice): theirs stands.
        existing = _live(facts.dossier_id, kind)
        if existing is None:
            raise
        return existing, False


def issue_decision_document(dossier_id: UUID) -> Document:
    """Idempotent: the dossier's live certificate (accepted) or decision letter (rejected)."""
    document, _new = issue(dossier_id)
    return document


def reset_process_state() -> None:
    """Forget every key, certificate and list this process holds (tests, settings changes)."""
    from guichet.documents import keys, publication, verify

    keys.reset_key_stores()
    pki.forget_loaded()
    publication.forget_cached()
    verify.forget_trust()
    seal.forget_timestampers()
