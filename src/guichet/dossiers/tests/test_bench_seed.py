"""`guichet bench_seed`: bulk fake dossiers for the back-office benchmark, on a small count."""

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from guichet.dossiers.models import Dossier, DossierEvent, NumberCounter
from guichet.dossiers.workflow import State
from guichet.identity.models import User
from guichet.testing import ApiClient
from guichet.vault.models import DataKey

pytestmark = pytest.mark.django_db


def _seed(count: int, **options: Any) -> str:
    out = StringIO()
    call_command("bench_seed", dossiers=count, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def test_refused_on_an_instance_that_is_not_for_benchmarks(world: dict[str, User]) -> None:
    with pytest.raises(CommandError, match="GUICHET_BENCH_ENDPOINTS"):
        _seed(10)
    assert not Dossier.objects.exists()


def test_seeds_every_state_with_consistent_rows(world: dict[str, User], settings: Any) -> None:
    settings.GUICHET_BENCH_ENDPOINTS = True

    output = _seed(200, citizens=20, openable_every=50, batch=64)

    assert "Seeded 200 dossiers" in output
    counts = {state: Dossier.objects.filter(state=state).count() for state in State.values}
    assert sum(counts.values()) == 200
    assert all(counts[state] > 0 for state in ("draft", "submitted", "in_review", "accepted"))
    assert Dossier.objects.values("applicant").distinct().count() == 20
    assert Dossier.objects.values("organisation").distinct().count() == 3
    # Every dossier but the drafts has a number, a deadline and a submit event; numbers are unique
    # and the counters continue after them, so a real submission cannot reuse one.
    submitted = Dossier.objects.exclude(state=State.DRAFT)
    assert not submitted.filter(number__isnull=True).exists()
    assert not submitted.filter(due_at__isnull=True).exists()
    assert Dossier.objects.filter(state=State.DRAFT, number__isnull=False).count() == 0
    assert submitted.values("number").distinct().count() == submitted.count()
    assert sum(NumberCounter.objects.values_list("last", flat=True)) == submitted.count()
    assert DossierEvent.objects.filter(action="submit").count() == submitted.count()
    assert DossierEvent.objects.filter(kind="created").count() == 200
    assert DataKey.objects.filter(owner__startswith="dossier:").count() == 4


def test_the_queue_and_an_openable_dossier_work_after_seeding(
    api: dict[str, ApiClient], world: dict[str, User], settings: Any
) -> None:
    settings.GUICHET_BENCH_ENDPOINTS = True
    _seed(200, citizens=20, openable_every=10)

    page = api["instructor"].get("queue", limit=100)
    assert page.status_code == 200
    items = page.json()["items"]
    mine = Dossier.objects.filter(
        organisation__memberships__user=world["instructor"],
        state__in=["submitted", "in_review", "changes_requested"],
    )
    assert len(items) == min(100, mine.count()) > 0
    assert all(item["applicant"].startswith("Citoyen Banc") for item in items)

    owners = DataKey.objects.filter(owner__startswith="dossier:").values_list("owner", flat=True)
    openable = mine.filter(pk__in=[owner.split(":", 1)[1] for owner in owners]).first()
    assert openable is not None
    detail = api["instructor"].get(f"dossiers/{openable.pk}")
    assert detail.status_code == 200
    assert detail.json()["data"]["full_name"].startswith("Citoyen")


def test_a_second_run_adds_dossiers_and_reuses_the_citizens(
    world: dict[str, User], settings: Any
) -> None:
    settings.GUICHET_BENCH_ENDPOINTS = True
    _seed(30, citizens=5)
    _seed(30, citizens=5)

    assert Dossier.objects.count() == 60
    assert User.objects.filter(email__endswith="@bench.invalid").count() == 5
    numbers = Dossier.objects.exclude(number=None).values_list("number", flat=True)
    assert len(set(numbers)) == len(numbers)
