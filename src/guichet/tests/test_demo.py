"""The demo gives every back-office role an account that can reach its pages."""

import pytest
from django.test import Client
from django.urls import reverse

from guichet.demo import load_demo

pytestmark = pytest.mark.django_db


def test_the_demo_designer_reaches_the_designer_pages_of_their_organisation() -> None:
    users = load_demo(with_dossiers=False)
    designer = users["aissatou.sow@ansd.sn"]
    client = Client()
    client.force_login(designer)

    response = client.get(reverse("designer_home"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Immatriculation au NINEA" in page
    # Another organisation's procedure is not theirs to design.
    assert "casier judiciaire" not in page
