"""Date filters at the calendar's edges: the last day (whose next day, the filter's exclusive end,
does not exist) and days before year 1000 (the log's times are text that does not pad the year
below it). A bound no event can be beyond is no bound, on the person's page, the API and the
security alerts' page alike: never a 500, never an empty list by mistake."""

from typing import Any

import pytest
from django.test import Client

from guichet.audit.models import SecurityAlert
from guichet.audit.tests.test_alerts import _raise_one, alerts_on  # noqa: F401 (fixture)
from guichet.identity.models import User
from guichet.testing import ApiClient

pytestmark = pytest.mark.django_db

EVERYTHING = [
    {},
    {"until": "9999-12-31"},
    {"until": "9999-12-30"},
    {"since": "0001-01-01"},
    {"since": "0999-06-01"},
    {"since": "0001-01-01", "until": "9999-12-31"},
]
NOTHING = [
    {"since": "9999-12-31"},
    {"until": "0001-01-01"},
    {"until": "0999-12-31"},
    {"since": "9999-12-31", "until": "9999-12-31"},
]


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def awa_events(api: dict[str, ApiClient], world: dict[str, User]) -> int:
    """Citizen A's entries (the API token of the `api` fixture, one more here): how many."""
    assert api["citizen_a"].post("me/tokens", {"name": "Script"}).status_code == 201
    items = api["citizen_a"].get("me/access-log").json()["items"]
    assert len(items) >= 2
    return len(items)


@pytest.mark.parametrize("query", EVERYTHING)
def test_bounds_no_event_is_beyond_keep_every_event(
    api: dict[str, ApiClient], world: dict[str, User], awa_events: int, query: dict[str, str]
) -> None:
    response = api["citizen_a"].get("me/access-log", **query)
    assert response.status_code == 200, response.content
    assert len(response.json()["items"]) == awa_events
    page = _client(world["citizen_a"]).get("/account/data-accesses/", query)
    assert page.status_code == 200
    assert page.content.decode().count("<tr>") == 1 + awa_events  # the header, then each


@pytest.mark.parametrize("query", NOTHING)
def test_bounds_every_event_is_beyond_keep_none(
    api: dict[str, ApiClient], world: dict[str, User], awa_events: int, query: dict[str, str]
) -> None:
    response = api["citizen_a"].get("me/access-log", **query)
    assert response.status_code == 200, response.content
    assert response.json()["items"] == []
    page = _client(world["citizen_a"]).get("/account/data-accesses/", query)
    assert page.status_code == 200
    assert "<table" not in page.content.decode()


@pytest.mark.parametrize(
    ("query", "listed"), [(q, True) for q in EVERYTHING] + [(q, False) for q in NOTHING]
)
def test_the_alerts_page_takes_the_same_bounds(
    api: dict[str, ApiClient],
    world: dict[str, User],
    alerts_on: Any,  # noqa: F811
    query: dict[str, str],
    listed: bool,
) -> None:
    alert = _raise_one(api)
    page = _client(world["admin"]).get("/admin/security-alerts/", query)
    assert page.status_code == 200, page.content[:500]
    assert (f"/admin/security-alerts/{alert.pk}/" in page.content.decode()) is listed
    assert SecurityAlert.objects.count() == 1
