"""The platform admin manages organisations and agents; nobody else gets into the console."""

from typing import Any

import pytest
from django.test import Client

from guichet.identity.models import Membership, Organisation, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(world: dict[str, User]) -> Client:
    client = Client()
    client.force_login(world["admin"])
    return client


def test_the_admin_creates_an_organisation_under_a_ministry(admin_client: Client) -> None:
    ministry = Organisation.objects.get(slug="min-justice")
    response = admin_client.post(
        "/admin/identity/organisation/add/",
        {
            "name": "Tribunal de Kaolack",
            "slug": "tribunal-kaolack",
            "kind": "directorate",
            "parent": str(ministry.pk),
        },
    )
    assert response.status_code == 302, response.content[:2000]
    assert Organisation.objects.get(slug="tribunal-kaolack").parent == ministry


def test_an_organisation_cannot_be_its_own_ancestor(admin_client: Client) -> None:
    ministry = Organisation.objects.get(slug="min-justice")
    child = Organisation.objects.get(slug="casier-judiciaire-national")
    response = admin_client.post(
        f"/admin/identity/organisation/{ministry.pk}/change/",
        {
            "name": ministry.name,
            "slug": ministry.slug,
            "kind": ministry.kind,
            "parent": str(child.pk),
        },
    )
    assert response.status_code == 200
    ministry.refresh_from_db()
    assert ministry.parent is None


def test_the_admin_gives_an_agent_a_role(admin_client: Client, world: dict[str, User]) -> None:
    commune = Organisation.objects.get(slug="commune-dakar-plateau")
    response = admin_client.post(
        "/admin/identity/membership/add/",
        {"user": str(world["citizen_b"].pk), "organisation": str(commune.pk), "role": "instructor"},
    )
    assert response.status_code == 302
    assert Membership.objects.filter(user=world["citizen_b"], role="instructor").exists()


@pytest.mark.parametrize("persona", ["citizen_a", "instructor", "supervisor", "other_agent"])
def test_only_the_platform_admin_enters_the_console(
    world: dict[str, User], persona: str, settings: Any
) -> None:
    client = Client()
    client.force_login(world[persona])
    response = client.get("/admin/identity/organisation/")
    assert response.status_code == 302
    assert "/login" in response["Location"]
    assert (
        client.post(
            "/admin/identity/organisation/add/", {"name": "X", "slug": "x", "kind": "agency"}
        ).status_code
        == 302
    )
    assert not Organisation.objects.filter(slug="x").exists()


def test_dossiers_are_not_in_the_console(admin_client: Client) -> None:
    assert admin_client.get("/admin/dossiers/dossier/").status_code == 404
