"""Demo dossiers in various states, made through the same actions a person would use."""

from django.core.files.uploadedfile import SimpleUploadedFile

from guichet.catalog.models import Procedure
from guichet.dossiers import actions
from guichet.dossiers.models import Dossier
from guichet.identity.models import User

# The smallest well-formed PDF: enough for content sniffing and for a viewer to open it.
DEMO_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def _pdf(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, DEMO_PDF, content_type="application/pdf")


def load_demo_dossiers(users: dict[str, User], procedures: dict[str, Procedure]) -> None:
    awa = users["awa.diop@example.sn"]
    moussa = users["moussa.fall@example.sn"]
    if Dossier.objects.filter(applicant__in=[awa, moussa]).exists():
        return  # already loaded: the demo is idempotent
    fatou = users["fatou.ndiaye@dakarplateau.sn"]
    birth = procedures["extrait-acte-naissance"]
    record = procedures["bulletin-casier-judiciaire"]
    ninea = procedures["immatriculation-ninea"]
    birth_answers = {
        "full_name": "Awa Diop",
        "birth_date": "1994-03-12",
        "copy_kind": "extract",
        "copies": 2,
        "phone": "77 123 45 67",
    }

    # A draft Awa has not finished.
    actions.do_create_draft(awa, record, {"full_name": "Awa Diop", "birth_place": "Kaolack"})

    # Submitted, waiting for an instructor.
    submitted = actions.do_create_draft(awa, birth, birth_answers)
    actions.do_add_attachment(awa, submitted.pk, "id_document", _pdf("cni-awa.pdf"))
    actions.do_transition(awa, submitted.pk, "submit")

    # Taken by Fatou, who asked for a correction.
    corrected = actions.do_create_draft(
        moussa,
        birth,
        {
            **birth_answers,
            "full_name": "Moussa Fall",
            "birth_date": "1988-11-02",
            "phone": "+221 76 555 12 34",
        },
    )
    actions.do_add_attachment(moussa, corrected.pk, "id_document", _pdf("cni-moussa.pdf"))
    actions.do_transition(moussa, corrected.pk, "submit")
    actions.do_transition(fatou, corrected.pk, "take")
    actions.do_transition(
        fatou,
        corrected.pk,
        "request_changes",
        "La pièce d'identité est illisible : merci d'envoyer une copie plus nette.",
    )

    # Accepted.
    accepted = actions.do_create_draft(
        awa, birth, {**birth_answers, "copy_kind": "full_copy", "copies": 1}
    )
    actions.do_add_attachment(awa, accepted.pk, "id_document", _pdf("cni-awa-2.pdf"))
    actions.do_transition(awa, accepted.pk, "submit")
    actions.do_transition(fatou, accepted.pk, "take")
    actions.do_transition(
        fatou, accepted.pk, "accept", "Extrait disponible au guichet de la mairie."
    )

    # A company registration in review at the statistics agency.
    company = actions.do_create_draft(
        moussa,
        ninea,
        {
            "company_name": "Fall Services SARL",
            "legal_form": "sarl",
            "rccm": "SN-DKR-2026-B-01234",
            "activity": "Maintenance informatique",
            "employees": 4,
            "start_date": "2026-10-01",
            "has_premises": True,
            "contact_email": "contact@fallservices.sn",
            "contact_phone": "33 821 00 00",
        },
        "company",
    )
    actions.do_add_attachment(moussa, company.pk, "statutes", _pdf("statuts.pdf"))
    actions.do_transition(moussa, company.pk, "submit")
    actions.do_transition(users["ousmane.sy@ansd.sn"], company.pk, "take")

    # Routed by its premises' département to the Dakar regional service: Khady proposed to
    # accept it; only the ANSD's supervisor, Mariama, may now decide (two-level workflow).
    routed = actions.do_create_draft(
        awa,
        ninea,
        {
            "company_name": "Diop Couture",
            "legal_form": "ei",
            "rccm": "SN-DKR-2026-A-04567",
            "activity": "Couture et retouches",
            "employees": 1,
            "start_date": "2026-09-15",
            "has_premises": True,
            "premises": {"region": "SN-DK", "departement": "Dakar", "commune": "Dakar-Plateau"},
            "contact_email": "awa.diop@example.sn",
            "contact_phone": "77 123 45 67",
        },
        "person",
    )
    actions.do_transition(awa, routed.pk, "submit")
    actions.do_transition(users["khady.faye@ansd.sn"], routed.pk, "take")
    actions.do_transition(users["khady.faye@ansd.sn"], routed.pk, "propose_acceptance")
