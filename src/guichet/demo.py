"""Demo data: three Senegalese procedures from three administrations (definition files in
catalog/definitions/), their agents, two citizens
and dossiers in several states. Idempotent: running it again changes nothing.

Passwords and TOTP secrets here are public on purpose: they exist only on demo instances.
"""

from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from guichet.catalog.actions import NEW_DRAFTS_ONLY, do_import_definition, do_publish_procedure
from guichet.catalog.definition import load
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
    # The ANSD's regional services: the NINEA workflow routes registrations to them.
    {
        "slug": "ansd-srsd-dakar",
        "name": "Service régional de la Statistique de Dakar (ANSD)",
        "kind": "directorate",
        "parent": "ansd",
    },
    {
        "slug": "ansd-srsd-thies",
        "name": "Service régional de la Statistique de Thiès (ANSD)",
        "kind": "directorate",
        "parent": "ansd",
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
        "mariama.diallo@ansd.sn",
        "Mariama Diallo",
        Role.SUPERVISOR,
        "ansd",
        "MZXW6YTBOI3TEMZUGU3DOOBZGAYTEMZU",
    ),
    DemoAccount(
        "khady.faye@ansd.sn",
        "Khady Faye",
        Role.INSTRUCTOR,
        "ansd-srsd-dakar",
        "NRXWO2LOORXWGZLUMVZXIMJSGM2DKNRX",
    ),
    # Procedure design: the designer pages (/agent/designer/) need a designer of the organisation.
    DemoAccount(
        "aissatou.sow@ansd.sn",
        "Aïssatou Sow",
        Role.DESIGNER,
        "ansd",
        "ONSWG4TFOQYTEMZUGU3DMNZYHEYDCMRT",
    ),
    # The commune's designer writes the birth procedure's rules but sees none of its dossiers
    # (separation of duties: catalog/workflow_def.py, DESIGN_ROLES).
    DemoAccount(
        "ndeye.gueye@dakarplateau.sn",
        "Ndèye Guèye",
        Role.DESIGNER,
        "commune-dakar-plateau",
        "NZSGK6LFFZTXKZLZMUWWIZLTNFTW4ZLS",
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


# The demo procedures are definition files, loaded as an administration would import them.
DEFINITIONS = Path(__file__).parent / "catalog" / "definitions"


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


def _procedures() -> dict[str, Procedure]:
    result = {}
    for path in sorted(DEFINITIONS.glob("*.yaml")):
        definition = load(path.read_text(encoding="utf-8"))
        procedure = do_import_definition(definition, drafts_policy=NEW_DRAFTS_ONLY).procedure
        if procedure.status != Procedure.Status.PUBLISHED:
            do_publish_procedure(procedure)
        result[procedure.slug] = procedure
    return result


@transaction.atomic
def load_demo(with_dossiers: bool = True) -> dict[str, User]:
    organisations = _organisations()
    users = {spec.email: _account(spec, organisations) for spec in ACCOUNTS}
    procedures = _procedures()
    if with_dossiers:
        from guichet.dossiers.demo import load_demo_dossiers

        load_demo_dossiers(users, procedures)
    return users
