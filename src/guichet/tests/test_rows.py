"""guichet/rows.py builds the objects the ORM would: same values, same cached relations, same
side effects of a save (auto_now fields, signals), each in one statement built once."""

from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import signals
from django.test.utils import CaptureQueriesContext

from guichet import rows
from guichet.dossiers.models import Dossier, DossierEvent
from guichet.identity.models import User
from guichet.testing import BIRTH, BIRTH_ANSWERS, ApiClient, pdf_file

pytestmark = pytest.mark.django_db

RELATED = ("procedure", "procedure__organisation", "applicant", "assigned_to", "team")
DOSSIER = rows.Select(Dossier, RELATED, where="{id} = %s", params=("id",))
BY_STATE = rows.Select(
    Dossier,
    ("applicant",),
    where="{state} = %s AND {applicant.is_active} = %s ORDER BY {created_at}",
    params=("state", "applicant.is_active"),
)


def _values(obj: Any) -> dict[str, Any]:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def _dossier(client: ApiClient, submit: bool = True) -> str:
    created = client.post("dossiers", {"procedure": BIRTH, "data": BIRTH_ANSWERS})
    dossier_id: str = created.json()["id"]
    client.upload(f"dossiers/{dossier_id}/attachments", "id_document", pdf_file())
    if submit:
        assert client.post(f"dossiers/{dossier_id}/submit").status_code == 200
    return dossier_id


def test_a_select_gives_the_orm_s_objects_and_relations(
    api: dict[str, ApiClient], world: dict[str, User]
) -> None:
    dossier_id = _dossier(api["citizen_a"])
    expected = Dossier.objects.select_related(*RELATED).get(pk=dossier_id)
    with CaptureQueriesContext(connection) as captured:
        found = DOSSIER.one(expected.pk)
        assert found is not None
        # Every joined object is cached on its parent: reading them costs no query.
        related = [
            found.procedure,
            found.procedure.organisation,
            found.applicant,
            found.assigned_to,
            found.team,
        ]
    assert len(captured) == 1
    assert _values(found) == _values(expected)
    assert found.answers_sealed is not None and bytes(found.answers_sealed)
    assert [_values(r) if r else None for r in related] == [
        _values(expected.procedure),
        _values(expected.procedure.organisation),
        _values(expected.applicant),
        None,  # an outer join that found nothing caches None, as select_related does
        None,
    ]
    assert found.applicant == world["citizen_a"]
    assert not found._state.adding and found._state.db == "default"


def test_parameters_are_converted_for_the_database_and_counted(
    api: dict[str, ApiClient], world: dict[str, User]
) -> None:
    first, second = _dossier(api["citizen_a"]), _dossier(api["citizen_b"])
    _dossier(api["citizen_a"], submit=False)
    assert [str(d.pk) for d in BY_STATE.all("submitted", True)] == [first, second]
    assert BY_STATE.all("submitted", False) == []
    assert DOSSIER.one(str(first)) is not None  # a string for a UUID field, as .get(pk=) takes
    assert DOSSIER.one("00000000-0000-0000-0000-000000000000") is None
    with pytest.raises(TypeError, match="2 values expected, 1 given"):
        BY_STATE.all("submitted")


def test_a_locking_select_runs_in_a_transaction(api: dict[str, ApiClient]) -> None:
    dossier_id = _dossier(api["citizen_a"])
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        assert DOSSIER.one(dossier_id, lock=True) is not None
    sql = captured.captured_queries[-1]["sql"]
    if connection.features.has_select_for_update:
        assert sql.endswith('FOR UPDATE OF "t0"')
    else:
        assert "FOR UPDATE" not in sql  # SQLite: BEGIN IMMEDIATE is the lock


def test_update_and_insert_do_what_save_does(
    api: dict[str, ApiClient], world: dict[str, User]
) -> None:
    dossier = Dossier.objects.get(pk=_dossier(api["citizen_a"]))
    seen: list[tuple[str, bool | None]] = []

    def receiver(sender: Any, instance: Any, **kwargs: Any) -> None:
        step = "post" if kwargs["signal"] is signals.post_save else "pre"
        seen.append((step, kwargs.get("created")))

    for signal in (signals.pre_save, signals.post_save):
        signal.connect(receiver, sender=DossierEvent)
        signal.connect(receiver, sender=Dossier)
    try:
        before = dossier.updated_at
        dossier.state = "in_review"
        rows.update(dossier)
        event = DossierEvent(dossier=dossier, actor=world["instructor"], kind="transition")
        rows.insert(event)
    finally:
        for signal in (signals.pre_save, signals.post_save):
            signal.disconnect(receiver, sender=DossierEvent)
            signal.disconnect(receiver, sender=Dossier)
    stored = Dossier.objects.get(pk=dossier.pk)
    assert stored.state == "in_review" and stored.updated_at == dossier.updated_at > before
    assert _values(stored) == _values(dossier)
    assert event.pk is not None and not event._state.adding  # the database's id, read back
    assert _values(DossierEvent.objects.get(pk=event.pk)) == _values(event)
    assert event.at is not None  # auto_now_add, as save() sets it
    assert seen == [("pre", None), ("post", False), ("pre", None), ("post", True)]
    ghost = Dossier(pk="00000000-0000-0000-0000-000000000001", procedure=dossier.procedure)
    with pytest.raises(DatabaseError, match="no row to update"):
        rows.update(ghost)


def test_remembered_rows_are_read_without_a_query(api: dict[str, ApiClient]) -> None:
    dossier = Dossier.objects.get(pk=_dossier(api["citizen_a"]))
    assert rows.remembered(dossier, "attachments") is None
    attachments = list(dossier.attachments.all())
    fresh = Dossier.objects.get(pk=dossier.pk)
    rows.remember_related(fresh, "attachments", attachments)
    with CaptureQueriesContext(connection) as captured:
        assert list(fresh.attachments.all()) == attachments
        assert attachments[0].dossier is fresh
        assert rows.remembered(fresh, "attachments") == attachments
    assert len(captured) == 0
