"""What a document says, in French and English, per procedure with a generic default.

The wording of an official document is content, like a procedure's title, so it is kept here as
{"fr": ..., "en": ...} texts rather than in the interface's translation catalog: a document must
come out in the applicant's language, complete, whatever the state of the .po files.

A procedure's block may use its answers as {name} placeholders (missing answers print as "—")
and {procedure}, {organisation}, {dossier_number}, {applicant}.
"""

import datetime
from dataclasses import dataclass, field
from typing import Any

Text = dict[str, str]


@dataclass(frozen=True)
class Template:
    title: Text
    granted: Text
    signatory: Text
    # Days the certificate stays valid after issue; None: no expiry.
    validity_days: int | None = None
    # Answers printed as facts under the text: (answer name, label).
    facts: list[tuple[str, Text]] = field(default_factory=list)


def t(fr: str, en: str) -> Text:
    return {"fr": fr, "en": en}


GENERIC = Template(
    title=t("Attestation", "Certificate"),
    granted=t(
        "L'administration soussignée atteste que la demande n° {dossier_number} relative à "
        "la démarche « {procedure} », présentée par {applicant}, a été examinée et acceptée.",
        "The undersigned administration certifies that application no. {dossier_number} for "
        "the procedure “{procedure}”, filed by {applicant}, was examined and granted.",
    ),
    signatory=t(
        "Pour l'administration, l'agent habilité", "For the administration, the authorised officer"
    ),
)

TEMPLATES: dict[str, Template] = {
    "extrait-acte-naissance": Template(
        title=t("Extrait d'acte de naissance", "Birth certificate extract"),
        granted=t(
            "L'officier de l'état civil de {organisation} certifie que l'acte de naissance de "
            "{full_name}, né(e) le {birth_date}, est inscrit aux registres de l'état civil de la "
            "commune, et délivre le présent extrait à la demande n° {dossier_number}.",
            "The civil registrar of {organisation} certifies that the birth of {full_name}, born "
            "on {birth_date}, is entered in the commune's civil status registers, and issues this "
            "extract in answer to application no. {dossier_number}.",
        ),
        signatory=t(
            "Pour le Maire, l'officier de l'état civil délégué",
            "For the Mayor, the delegated civil registrar",
        ),
        facts=[
            ("full_name", t("Personne concernée", "Person concerned")),
            ("birth_date", t("Date de naissance", "Date of birth")),
            ("register_number", t("Numéro du registre", "Register number")),
        ],
    ),
    "bulletin-casier-judiciaire": Template(
        title=t(
            "Bulletin n° 3 du casier judiciaire", "Criminal record certificate (bulletin no. 3)"
        ),
        granted=t(
            "Le Service du casier judiciaire national certifie qu'aucune condamnation devant "
            "figurer au bulletin n° 3 n'est inscrite au nom de {full_name}, né(e) le {birth_date} "
            "à {birth_place}.",
            "The National Criminal Records Service certifies that no conviction to be shown on "
            "bulletin no. 3 is recorded in the name of {full_name}, born on {birth_date} in "
            "{birth_place}.",
        ),
        signatory=t(
            "Le Chef du Service du casier judiciaire national",
            "The Head of the National Criminal Records Service",
        ),
        validity_days=90,
        facts=[
            ("full_name", t("Nom", "Name")),
            ("birth_date", t("Date de naissance", "Date of birth")),
            ("birth_place", t("Lieu de naissance", "Place of birth")),
        ],
    ),
    "immatriculation-ninea": Template(
        title=t("Attestation d'immatriculation au NINEA", "NINEA registration certificate"),
        granted=t(
            "L'Agence nationale de la Statistique et de la Démographie atteste que l'entreprise "
            "{company_name} (RCCM {rccm}) est immatriculée au Numéro d'identification national "
            "des entreprises et des associations.",
            "The National Agency for Statistics and Demography certifies that the company "
            "{company_name} (trade register {rccm}) is registered under the national "
            "identification number of companies and associations.",
        ),
        signatory=t("Le Directeur général de l'ANSD", "The Director General of the ANSD"),
        facts=[
            ("company_name", t("Raison sociale", "Company name")),
            ("rccm", t("Numéro RCCM", "Trade register number")),
            ("start_date", t("Début d'activité", "Start of activity")),
        ],
    ),
}

REJECTION_TITLE = t("Décision de rejet", "Decision of rejection")
REJECTION_INTRO = t(
    "Votre demande n° {dossier_number} relative à la démarche « {procedure} » a été examinée. "
    "L'administration ne peut pas y donner une suite favorable, pour les motifs suivants :",
    "Your application no. {dossier_number} for the procedure “{procedure}” was examined. The "
    "administration cannot grant it, for the following reasons:",
)
REJECTION_REMEDY = t(
    "Vous pouvez contester cette décision par un recours gracieux auprès de {organisation}, ou "
    "par un recours devant la juridiction compétente, dans un délai de deux mois à compter de "
    "sa notification.",
    "You may challenge this decision by an appeal to {organisation}, or before the competent "
    "court, within two months of its notification.",
)
REJECTION_SIGNATORY = t(
    "Pour l'administration, l'agent habilité", "For the administration, the authorised officer"
)

LABELS: dict[str, Text] = {
    "country": t("RÉPUBLIQUE DU SÉNÉGAL", "REPUBLIC OF SENEGAL"),
    "motto": t(
        "Un Peuple \N{EN DASH} Un But \N{EN DASH} Une Foi",
        "One People \N{EN DASH} One Goal \N{EN DASH} One Faith",
    ),
    "document_number": t("Document n°", "Document no."),
    "dossier_number": t("Demande n°", "Application no."),
    "applicant": t("Demandeur", "Applicant"),
    "decided_at": t("Date de la décision", "Date of the decision"),
    "issued_at": t("Délivré le", "Issued on"),
    "expires_at": t("Valable jusqu'au", "Valid until"),
    "legal_basis": t("Fondement juridique", "Legal basis"),
    "reasons": t("Motifs", "Reasons"),
    "sealed_by": t(
        "Document scellé électroniquement par {organisation} et horodaté. Sa validité se vérifie "
        "en scannant le code ci-contre ou en déposant ce fichier sur :",
        "Document electronically sealed by {organisation} and time-stamped. Check it by scanning "
        "the code opposite or by uploading this file at:",
    ),
    "timestamp_by": t("Horodatage : {tsa}", "Time-stamp: {tsa}"),
    "page": t("Page 1 sur 1", "Page 1 of 1"),
}

MONTHS: dict[str, list[str]] = {
    "fr": [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}


def in_language(text: Text, language: str) -> str:
    return text.get(language) or text["fr"]


def template_for(procedure_slug: str) -> Template:
    return TEMPLATES.get(procedure_slug, GENERIC)


def long_date(value: datetime.date, language: str) -> str:
    month = MONTHS.get(language, MONTHS["fr"])[value.month - 1]
    if language == "en":
        return f"{value.day} {month} {value.year}"
    day = "1er" if value.day == 1 else str(value.day)
    return f"{day} {month} {value.year}"


def answer_text(value: Any, language: str) -> str:
    """An answer as a document prints it: ISO dates spelled out, yes/no in words."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return in_language(t("oui", "yes") if value else t("non", "no"), language)
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return long_date(datetime.date.fromisoformat(value), language)
        except ValueError:
            return value
    return str(value)


class _Answers(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "—"


def fill(text: Text, language: str, values: dict[str, Any]) -> str:
    answers = _Answers({key: answer_text(value, language) for key, value in values.items()})
    return in_language(text, language).format_map(answers)
