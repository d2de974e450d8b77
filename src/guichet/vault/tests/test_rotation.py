"""`guichet vault rotate` and `status`: rewrap in batches, survive an interruption, keep reads and
writes working meanwhile, and retire old versions only when nothing uses them."""

import io
import os
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from guichet.vault import rotation, service
from guichet.vault.cache import key_cache
from guichet.vault.keys import owner_key_material
from guichet.vault.models import DataKey, KekVersion, Rotation
from guichet.vault.providers import get_provider
from guichet.vault.tests.conftest import reset_vault_process_state

pytestmark = pytest.mark.django_db(transaction=True)


class Killed(Exception):
    """Stands for kill -9 between two committed batches."""


def make_owners(count: int) -> dict[str, bytes]:
    owners = {}
    for _ in range(count):
        owner = f"dossier:{uuid.uuid4()}"
        owners[owner] = service.encrypt_field(owner, owner, "name", f"name of {owner}")
    return owners


def assert_all_readable(owners: dict[str, bytes]) -> None:
    key_cache().clear()  # every key unwrapped again, through whatever KEK its row names now
    for owner, sealed in owners.items():
        assert service.decrypt_field(owner, owner, "name", sealed) == f"name of {owner}"


def versions() -> list[tuple[str, int, str, int]]:
    return [
        (k.provider, k.version, k.state, k.data_keys.filter(destroyed_at__isnull=True).count())
        for k in KekVersion.objects.order_by("version")
    ]


def vault(*args: str) -> str:
    out = io.StringIO()
    call_command("vault", *args, stdout=out)
    return out.getvalue()


def test_rotate_rewraps_everything_and_retires_the_old_version() -> None:
    owners = make_owners(25)
    index = service.blind_index("national_id", "1 234 567 890 123")
    before = dict(DataKey.objects.values_list("id", "wrapped"))
    output = vault("rotate", "--batch-size", "10")
    # 25 owners + the blind-index key
    assert "lot 1\u00a0: 10/26 clés de données rechiffrées (38%, " in output
    assert "lot 3\u00a0: 26/26 clés de données rechiffrées (100%, " in output
    assert "Retirées\u00a0: local:v1." in output
    assert versions() == [("local", 1, "retired", 0), ("local", 2, "active", 26)]
    after = dict(DataKey.objects.values_list("id", "wrapped"))
    assert before.keys() == after.keys() and all(before[k] != after[k] for k in before)
    assert DataKey.objects.filter(rotated_at__isnull=True).count() == 0
    assert_all_readable(owners)
    assert service.blind_index("national_id", "1234567890123") == index
    status = vault("status")
    assert "local            1 retired            0" in status
    assert "local            2 active            26" in status


def test_an_interrupted_rotation_resumes_and_everything_stays_readable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    owners = make_owners(40)

    def kill_after_two(state: Rotation) -> None:
        if state.batches == 2:
            raise Killed

    monkeypatch.setattr(rotation, "after_batch", kill_after_two)
    with pytest.raises(Killed):
        vault("rotate", "--batch-size", "15")
    assert versions() == [("local", 1, "retiring", 10), ("local", 2, "active", 30)]
    assert "Rotation vers local:v2 en cours\u00a0: 30/40 rechiffrées\u00a0; " in vault("status")
    assert_all_readable(owners)  # half old, half new: reads work during the pause
    late = make_owners(3)  # writes during the pause go under the new version
    assert versions()[1][3] == 33

    monkeypatch.setattr(rotation, "after_batch", lambda state: None)
    output = vault("rotate", "--batch-size", "15")
    assert "lot 3\u00a0: 40/40 clés de données rechiffrées (100%, " in output
    assert Rotation.objects.count() == 1  # resumed, not restarted
    assert versions() == [("local", 1, "retired", 0), ("local", 2, "active", 43)]
    assert_all_readable(owners | late)


def test_reads_writes_and_erasure_during_rotation_never_fail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    owners = make_owners(30)
    erased = sorted(owners)[-1]  # highest id order is rewrapped last; erase it mid-way
    created: dict[str, bytes] = {}

    def busy_platform(state: Rotation) -> None:
        assert_all_readable({o: s for o, s in owners.items() if o != erased})
        created.update(make_owners(2))
        if state.batches == 1:
            service.destroy_key(erased)

    monkeypatch.setattr(rotation, "after_batch", busy_platform)
    vault("rotate", "--batch-size", "8")
    assert_all_readable({o: s for o, s in owners.items() if o != erased} | created)
    row = DataKey.objects.get(owner=erased)
    assert row.wrapped is None and row.destroyed_at is not None  # not brought back by the rewrap
    with pytest.raises(service.KeyDestroyed):
        service.decrypt_field(erased, erased, "name", owners[erased])
    assert versions()[0][2] == "retired"


def test_an_old_version_still_in_use_is_not_retired() -> None:
    owners = make_owners(3)
    vault("rotate")
    # A key that reached the old version behind the rotation's back (the race the row lock and
    # the final pass exist for), wrapped for real under v1.
    straggler = sorted(owners)[0]
    _, dek = owner_key_material(straggler)
    DataKey.objects.filter(owner=straggler).update(
        kek=KekVersion.objects.get(version=1), wrapped=get_provider("local").wrap(1, dek)
    )
    KekVersion.objects.filter(version=1).update(state="retiring")
    assert rotation.retire_unused() == []
    assert versions()[0] == ("local", 1, "retiring", 1)
    vault("rotate")  # the next rotation moves it along with the rest
    assert versions() == [
        ("local", 1, "retired", 0),
        ("local", 2, "retired", 0),
        ("local", 3, "active", 3),
    ]
    assert_all_readable(owners)


def test_a_bad_batch_size_is_a_clear_command_error() -> None:
    with pytest.raises(CommandError, match=r"^La taille des lots doit être d’au moins 1\.$"):
        vault("rotate", "--batch-size", "0")


def test_status_on_a_fresh_install() -> None:
    assert "Aucune clé de chiffrement de clés pour l’instant" in vault("status")


def test_an_unsafe_key_file_stops_rotation_before_it_starts(vault_keys: Path) -> None:
    owners = make_owners(3)
    reset_vault_process_state()  # a fresh command process: key files are read again
    os.chmod(vault_keys / "kek-v1.key", 0o644)
    with pytest.raises(CommandError, match="readable by group or others"):
        vault("rotate")
    assert versions() == [("local", 1, "active", 3)]  # no new version, no rotation begun
    assert not Rotation.objects.exists()
    assert "local            1 active" in vault("status")  # status still works for diagnosis
    os.chmod(vault_keys / "kek-v1.key", 0o600)
    vault("rotate")
    assert versions() == [("local", 1, "retired", 0), ("local", 2, "active", 3)]
    assert_all_readable(owners)
