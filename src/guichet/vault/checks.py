"""System checks: the platform must not start on an unsafe or broken key setup.

Key files readable by group or others, and KEK versions that data keys still need but whose
material is gone, are errors. Django's convention is to touch the database only in checks tagged
"database"; this one reads two small vault tables regardless (and stays silent if they do not exist
yet, as during the first migrate), because "data exists but its key is missing" cannot be seen any
other way and must stop `runserver`/`check` before the first request fails.

The residency check (residency.py, ids vault.E100-E104, W101-W102) is registered here too, under
the tags "vault" and "residency" (`guichet check --tag residency` runs it alone).
"""

from collections import defaultdict
from typing import Any

from django.core.checks import CheckMessage, Error, Warning, register
from django.db import DatabaseError
from django.db.models import Exists, OuterRef, Q

from guichet.vault.errors import VaultError
from guichet.vault.models import DataKey, KekState, KekVersion
from guichet.vault.providers import active_provider_name, get_provider
from guichet.vault.residency import check_residency

register(check_residency, "vault", "residency")


@register("vault")
def check_keys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    configured = active_provider_name()
    try:
        get_provider(configured)
    except VaultError as error:
        return [
            Error(
                str(error),
                id="vault.E001",
                hint="Set GUICHET_KEY_PROVIDER to local, pkcs11 or transit.",
            )
        ]
    try:
        in_use = _versions_in_use()
        active = KekVersion.objects.filter(state=KekState.ACTIVE).first()
    except DatabaseError:
        in_use, active = {}, None
    in_use.setdefault("local", [])  # loose local key files are refused even before any data
    for name, versions in sorted(in_use.items()):
        try:
            problems = get_provider(name).problems(versions)
        except VaultError as error:
            messages.append(
                Warning(
                    f"Key provider {name!r} cannot be checked now: {error}",
                    id="vault.W002",
                    hint="Requests that need it will fail until it is reachable.",
                )
            )
            continue
        messages.extend(Error(problem, id="vault.E002") for problem in problems)
    if active is not None and active.provider != configured:
        messages.append(
            Warning(
                f"GUICHET_KEY_PROVIDER is {configured!r} but new data keys are still wrapped by "
                f"{active.provider}:v{active.version}.",
                id="vault.W001",
                hint="Run `guichet vault rotate` to move every data key to the configured one.",
            )
        )
    return messages


def _versions_in_use() -> dict[str, list[int]]:
    found: dict[str, list[int]] = defaultdict(list)
    live = DataKey.objects.filter(kek=OuterRef("pk"), destroyed_at__isnull=True)
    rows = (
        KekVersion.objects.exclude(state=KekState.RETIRED)
        .filter(Q(state=KekState.ACTIVE) | Exists(live))
        .values_list("provider", "version")
    )
    for provider, version in rows:
        found[provider].append(version)
    return dict(found)
