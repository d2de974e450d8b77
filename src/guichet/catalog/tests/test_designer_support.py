"""Personas of the designer page tests: the world's designer of the Commune de Dakar-Plateau
(which owns the birth-certificate procedure) and one of the ANSD, who must not reach the
commune's procedures. Both have TOTP, as every agent must to reach /agent/ pages."""

from typing import Any

import pytest
from django.test import Client

from guichet.identity.actions import do_add_membership
from guichet.identity.models import Organisation, Role, User

DESIGNER_SECRET = "ORSXG5BAMRSXG2LHNZSXEIDPNZSSA3TF"


def _designer(email: str, organisation: str) -> User:
    from allauth.mfa.totp.internal.auth import TOTP

    user = User.objects.create_user(email, "Designer-2026!", full_name=email.split("@")[0])
    do_add_membership(user, Organisation.objects.get(slug=organisation), Role.DESIGNER)
    TOTP.activate(user, DESIGNER_SECRET)
    return user


@pytest.fixture
def people(world: dict[str, User]) -> dict[str, User]:
    """The world's personas (`designer` is the commune's) plus `other_designer` (ANSD)."""
    return {**world, "other_designer": _designer("modou.faye@ansd.sn", "ansd")}


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def location(response: Any) -> str:
    if response.status_code != 302:
        html = response.content.decode()
        start = html.find("error-summary")
        raise AssertionError(f"{response.status_code}: {html[start : start + 1500]}")
    return str(response["Location"])
