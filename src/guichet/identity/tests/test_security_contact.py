"""An organisation's security contact (where its security alerts go): set by its org admins on
their page, or by the platform admin in the console; each change is an event of the log."""

from typing import Any

import pytest
from django.test import Client

from guichet.audit.models import Action, AuditEvent
from guichet.identity.actions import do_add_membership
from guichet.identity.models import Organisation, Role, User

pytestmark = pytest.mark.django_db


NAMES = {"org_admin": "Ibrahima Sarr", "admin": "Administrateur de la plateforme"}


def _commune() -> Organisation:
    return Organisation.objects.get(name="Commune de Dakar-Plateau")


def _page(organisation: Organisation) -> str:
    return f"/agent/organisations/{organisation.pk}/security-contact/"


@pytest.fixture
def org_admin(world: dict[str, User]) -> User:
    """The supervisor, made org admin of the commune."""
    supervisor = world["supervisor"]
    do_add_membership(supervisor, _commune(), Role.ORG_ADMIN)
    return supervisor


@pytest.mark.parametrize(
    ("persona", "allowed"),
    [
        ("anonymous", False),
        ("citizen_a", False),
        ("instructor", False),
        ("other_agent", False),
        ("org_admin", True),
        ("admin", True),
    ],
)
def test_only_org_admins_and_platform_admins_set_the_security_contact(
    world: dict[str, User], org_admin: User, persona: str, allowed: bool
) -> None:
    commune = _commune()
    client = Client()
    if persona == "org_admin":
        client.force_login(org_admin)
    elif persona != "anonymous":
        client.force_login(world[persona])
    before = AuditEvent.objects.count()
    shown = client.get(_page(commune))
    saved = client.post(_page(commune), {"security_email": "securite@dakarplateau.sn"})
    commune.refresh_from_db()
    if allowed:
        assert shown.status_code == 200
        assert saved.status_code == 302
        assert commune.security_email == "securite@dakarplateau.sn"
        event = AuditEvent.objects.get(action=Action.SECURITY_CONTACT_CHANGED)
        assert event.object_id == str(commune.pk)
        assert "securite@" not in event.details
        # By name (sealed, opened for the entry), never by sign-in email.
        actor = org_admin if persona == "org_admin" else world["admin"]
        assert (event.actor_kind, event.actor_id, event.actor_name, event.org_name) == (
            "agent",
            str(actor.pk),
            NAMES[persona],
            "Commune de Dakar-Plateau",
        )
    else:
        assert shown.status_code in {302, 404}  # anonymous visitors go to the sign-in page
        assert saved.status_code in {302, 404}
        if persona != "anonymous":
            assert shown.status_code == 404
        assert commune.security_email == ""
        assert AuditEvent.objects.count() == before


def test_an_invalid_address_is_refused_next_to_the_field(
    world: dict[str, User], org_admin: User
) -> None:
    client = Client()
    client.force_login(org_admin)
    response = client.post(_page(_commune()), {"security_email": "not an address"})
    assert response.status_code == 400
    assert 'id="id_security_email"' in response.content.decode()
    assert _commune().security_email == ""


def test_an_org_admin_of_another_organisation_cannot_set_it(world: dict[str, User]) -> None:
    other = world["other_agent"]
    ansd = Organisation.objects.exclude(name="Commune de Dakar-Plateau").filter(
        memberships__user=other
    )[0]
    do_add_membership(other, ansd, Role.ORG_ADMIN)
    client = Client()
    client.force_login(other)
    assert client.get(_page(ansd)).status_code == 200
    assert client.post(_page(_commune()), {"security_email": "x@y.sn"}).status_code == 404


def test_the_platform_admin_sets_it_in_the_console_and_it_is_logged(
    world: dict[str, User], settings: Any
) -> None:
    commune = _commune()
    client = Client()
    client.force_login(world["admin"])
    form = client.get(f"/admin/identity/organisation/{commune.pk}/change/")
    assert form.status_code == 200 and "security_email" in form.content.decode()
    response = client.post(
        f"/admin/identity/organisation/{commune.pk}/change/",
        {
            "slug": commune.slug,
            "name": commune.name,
            "kind": commune.kind,
            "parent": "",
            "security_email": "cert@dakarplateau.sn",
        },
    )
    assert response.status_code == 302, response.content.decode()[:500]
    commune.refresh_from_db()
    assert commune.security_email == "cert@dakarplateau.sn"
    [event] = AuditEvent.objects.filter(action=Action.SECURITY_CONTACT_CHANGED)
    assert (event.actor_id, event.actor_name) == (str(world["admin"].pk), NAMES["admin"])
