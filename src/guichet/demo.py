"""Demo data: three Senegalese procedures from three administrations, their agents, two citizens
and dossiers in several states. Idempotent: running it again changes nothing.

Passwords and TOTP secrets here are public on purpose: they exist only on demo instances.
"""

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from guichet.catalog.actions import do_publish_procedure, do_save_procedure
from guichet.catalog.models import Procedure
from guichet.identity.actions import do_add_membership
from guichet.identity.models import Organisation, Role, User

DEMO_PASSWORD = "Demo-Guichet-2026"  # noqa: S105 (public demo credential)


@dataclass(frozen=True)
class DemoAccount:
    email: str
    name: str
    role: str
    organisation: str = ""
    totp_secret: str = ""
    admin: bool = False


ORGANISATIONS: list[dict[str, str]] = [
    {
        "slug": "min-collectivites",
        "name": "Ministère des Collectivités territoriales",
        "kind": "ministry",
    },
    {
        "slug": "commune-dakar-plateau",
        "name": "Commune de Dakar-Plateau",
        "kind": "commune",
        "parent": "min-collectivites",
    },
    {"slug": "min-justice", "name": "Ministère de la Justice", "kind": "ministry"},
    {
        "slug": "casier-judiciaire-national",
        "name": "Service du Casier judiciaire national",
        "kind": "directorate",
        "parent": "min-justice",
    },
    {
        "slug": "ansd",
        "name": "Agence nationale de la Statistique et de la Démographie (ANSD)",
        "kind": "agency",
    },
]

ACCOUNTS: list[DemoAccount] = [
    DemoAccount("awa.diop@example.sn", "Awa Diop", "citizen"),
    DemoAccount("moussa.fall@example.sn", "Moussa Fall", "citizen"),
    DemoAccount(
        "fatou.ndiaye@dakarplateau.sn",
        "Fatou Ndiaye",
        Role.INSTRUCTOR,
        "commune-dakar-plateau",
        "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    ),
    DemoAccount(
        "ibrahima.sarr@dakarplateau.sn",
        "Ibrahima Sarr",
        Role.SUPERVISOR,
        "commune-dakar-plateau",
        "KRUGS4ZANFZSAYJAORSXG5BAONSWG4TF",
    ),
    DemoAccount(
        "aminata.ba@justice.gouv.sn",
        "Aminata Ba",
        Role.INSTRUCTOR,
        "casier-judiciaire-national",
        "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U",
    ),
    DemoAccount(
        "ousmane.sy@ansd.sn",
        "Ousmane Sy",
        Role.INSTRUCTOR,
        "ansd",
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
    ),
    DemoAccount(
        "admin@guichet.sn",
        "Administrateur de la plateforme",
        "admin",
        "",
        "NBSWY3DPO5XXE3DEEBWWK43TMFTWKIDU",
        admin=True,
    ),
]


def _label(fr: str, en: str) -> dict[str, str]:
    return {"fr": fr, "en": en}


PROCEDURES: list[dict[str, Any]] = [
    {
        "slug": "extrait-acte-naissance",
        "organisation": "commune-dakar-plateau",
        "title": _label("Extrait d'acte de naissance", "Copy of a birth certificate"),
        "summary": _label(
            "Obtenir une copie intégrale ou un extrait de son acte de naissance enregistré à l'état civil de la commune.",
            "Get a full copy or an extract of a birth certificate registered with the commune's civil status office.",
        ),
        "legal_basis": _label(
            "Code de la famille, articles 29 à 51", "Family Code, articles 29 to 51"
        ),
        "applicant_kinds": ["person"],
        "fee_amount": 200,
        "deadline_days": 3,
        # The civil status register itself is kept for ever; a request for a copy, one year.
        "retention_days": 365,
        "form": [
            {
                "name": "full_name",
                "type": "text",
                "required": True,
                "label": _label(
                    "Prénom et nom de la personne concernée",
                    "First name and surname of the person concerned",
                ),
            },
            {
                "name": "birth_date",
                "type": "date",
                "required": True,
                "past_only": True,
                "label": _label("Date de naissance", "Date of birth"),
            },
            {
                "name": "register_number",
                "type": "text",
                "required": False,
                "max_length": 20,
                "label": _label("Numéro du registre (si connu)", "Register number (if known)"),
            },
            {
                "name": "copy_kind",
                "type": "choice",
                "required": True,
                "label": _label("Type de document", "Kind of document"),
                "choices": [
                    {"value": "extract", "label": _label("Extrait", "Extract")},
                    {
                        "value": "full_copy",
                        "label": _label("Copie littérale intégrale", "Full copy"),
                    },
                ],
            },
            {
                "name": "copies",
                "type": "number",
                "required": True,
                "min": 1,
                "max": 10,
                "label": _label("Nombre d'exemplaires", "Number of copies"),
            },
            {
                "name": "phone",
                "type": "phone",
                "required": True,
                "label": _label("Téléphone", "Phone"),
            },
            {
                "name": "id_document",
                "type": "file",
                "required": True,
                "max_size_mb": 5,
                "label": _label("Pièce d'identité du demandeur", "Applicant's identity document"),
            },
        ],
    },
    {
        "slug": "bulletin-casier-judiciaire",
        "organisation": "casier-judiciaire-national",
        "title": _label(
            "Bulletin n°3 du casier judiciaire", "Criminal record certificate (bulletin n°3)"
        ),
        "summary": _label(
            "Demander le bulletin n°3 de son casier judiciaire, souvent exigé pour un emploi ou un concours.",
            "Request bulletin n°3 of your criminal record, often required for a job or a competitive exam.",
        ),
        "legal_basis": _label(
            "Code de procédure pénale, articles 720 et suivants",
            "Code of Criminal Procedure, articles 720 ff.",
        ),
        "applicant_kinds": ["person"],
        "fee_amount": 1000,
        "deadline_days": 7,
        "retention_days": 3 * 365,
        "form": [
            {
                "name": "full_name",
                "type": "text",
                "required": True,
                "label": _label("Prénom et nom", "First name and surname"),
            },
            {
                "name": "birth_date",
                "type": "date",
                "required": True,
                "past_only": True,
                "label": _label("Date de naissance", "Date of birth"),
            },
            {
                "name": "birth_place",
                "type": "text",
                "required": True,
                "label": _label("Lieu de naissance", "Place of birth"),
            },
            {
                "name": "father_name",
                "type": "text",
                "required": True,
                "label": _label("Prénom du père", "Father's first name"),
            },
            {
                "name": "mother_name",
                "type": "text",
                "required": True,
                "label": _label("Prénom et nom de la mère", "Mother's full name"),
            },
            {
                "name": "national_id",
                "type": "text",
                "required": False,
                "max_length": 17,
                "index": "national_id",
                "label": _label(
                    "Numéro d'identification national (NIN)",
                    "National identification number (NIN)",
                ),
            },
            {
                "name": "email",
                "type": "email",
                "required": False,
                "label": _label("Adresse électronique", "Email address"),
            },
            {
                "name": "purpose",
                "type": "textarea",
                "required": False,
                "max_length": 500,
                "label": _label("Motif de la demande", "Reason for the request"),
            },
            {
                "name": "id_document",
                "type": "file",
                "required": True,
                "max_size_mb": 5,
                "label": _label("Carte nationale d'identité", "National identity card"),
            },
        ],
    },
    {
        "slug": "immatriculation-ninea",
        "organisation": "ansd",
        "title": _label("Immatriculation au NINEA", "Registration for a NINEA number"),
        "summary": _label(
            "Obtenir le Numéro d'identification national des entreprises et des associations (NINEA) pour une entreprise nouvelle.",
            "Get the national identification number of companies and associations (NINEA) for a new company.",
        ),
        "legal_basis": _label(
            "Décret n° 2012-886 relatif au NINEA", "Decree no. 2012-886 on the NINEA"
        ),
        "applicant_kinds": ["company", "person"],
        "fee_amount": 0,
        "deadline_days": 10,
        # Company registration files follow the 10-year rule for commercial records.
        "retention_days": 10 * 365,
        "form": [
            {
                "name": "company_name",
                "type": "text",
                "required": True,
                "label": _label("Raison sociale", "Company name"),
            },
            {
                "name": "legal_form",
                "type": "choice",
                "required": True,
                "label": _label("Forme juridique", "Legal form"),
                "choices": [
                    {
                        "value": "ei",
                        "label": _label("Entreprise individuelle", "Sole proprietorship"),
                    },
                    {
                        "value": "suarl",
                        "label": _label("SUARL", "Single-member limited company (SUARL)"),
                    },
                    {"value": "sarl", "label": _label("SARL", "Limited liability company (SARL)")},
                    {"value": "sa", "label": _label("SA", "Public limited company (SA)")},
                    {"value": "gie", "label": _label("GIE", "Economic interest group (GIE)")},
                ],
            },
            {
                "name": "rccm",
                "type": "text",
                "required": True,
                "max_length": 30,
                "label": _label("Numéro RCCM", "Trade register (RCCM) number"),
            },
            {
                "name": "activity",
                "type": "textarea",
                "required": True,
                "max_length": 1000,
                "label": _label("Activité principale", "Main activity"),
            },
            {
                "name": "employees",
                "type": "number",
                "required": False,
                "min": 0,
                "max": 100000,
                "label": _label("Nombre de salariés", "Number of employees"),
            },
            {
                "name": "start_date",
                "type": "date",
                "required": True,
                "label": _label("Date de début d'activité", "Start of activity"),
            },
            {
                "name": "has_premises",
                "type": "yesno",
                "required": True,
                "label": _label(
                    "L'entreprise dispose-t-elle d'un local ?", "Does the company have premises?"
                ),
            },
            {
                "name": "contact_email",
                "type": "email",
                "required": True,
                "label": _label("Courriel de contact", "Contact email"),
            },
            {
                "name": "contact_phone",
                "type": "phone",
                "required": True,
                "label": _label("Téléphone de contact", "Contact phone"),
            },
            {
                "name": "statutes",
                "type": "file",
                "required": True,
                "max_size_mb": 10,
                "label": _label("Statuts de l'entreprise", "Company statutes"),
            },
            {
                "name": "rccm_extract",
                "type": "file",
                "required": False,
                "label": _label("Extrait RCCM", "RCCM extract"),
            },
        ],
    },
]


def _organisations() -> dict[str, Organisation]:
    result: dict[str, Organisation] = {}
    for spec in ORGANISATIONS:
        parent = result.get(spec.get("parent", ""))
        organisation, _ = Organisation.objects.update_or_create(
            slug=spec["slug"],
            defaults={"name": spec["name"], "kind": spec["kind"], "parent": parent},
        )
        result[spec["slug"]] = organisation
    return result


def _account(spec: DemoAccount, organisations: dict[str, Organisation]) -> User:
    from allauth.account.models import EmailAddress
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP

    user = User.objects.filter(email=spec.email).first()
    if user is None:
        user = User.objects.create_user(
            spec.email,
            DEMO_PASSWORD,
            full_name=spec.name,
            is_staff=spec.admin,
            is_superuser=spec.admin,
        )
    EmailAddress.objects.update_or_create(
        user=user, email=spec.email, defaults={"verified": True, "primary": True}
    )
    if spec.organisation:
        do_add_membership(user, organisations[spec.organisation], spec.role)
    if (
        spec.totp_secret
        and not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    ):
        TOTP.activate(user, spec.totp_secret)
    return user


def _procedures(organisations: dict[str, Organisation]) -> dict[str, Procedure]:
    result = {}
    for spec in PROCEDURES:
        attributes = {k: v for k, v in spec.items() if k not in ("slug", "organisation")}
        procedure = do_save_procedure(
            organisations[spec["organisation"]], spec["slug"], **attributes
        )
        if procedure.status != Procedure.Status.PUBLISHED:
            do_publish_procedure(procedure)
        result[spec["slug"]] = procedure
    return result


@transaction.atomic
def load_demo(with_dossiers: bool = True) -> dict[str, User]:
    organisations = _organisations()
    users = {spec.email: _account(spec, organisations) for spec in ACCOUNTS}
    procedures = _procedures(organisations)
    if with_dossiers:
        from guichet.dossiers.demo import load_demo_dossiers

        load_demo_dossiers(users, procedures)
    return users
