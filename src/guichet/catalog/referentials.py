"""Referentials: shared lists that choice and address fields take their values from.

Read once from the CSV files kept beside this module (see referentials/README.md) and cached
for the life of the process: they change with a deployment, not with a request.
"""

import csv
from functools import cache
from pathlib import Path
from typing import Any

FOLDER = Path(__file__).parent / "referentials"
REGIONS_FILE = FOLDER / "senegal-regions-departements.csv"


@cache
def regions() -> dict[str, str]:
    """Region code -> name, in the file's order ("SN-DK" -> "Dakar")."""
    result: dict[str, str] = {}
    for row in _rows():
        result.setdefault(row["region_code"], row["region"])
    return result


@cache
def departements() -> dict[str, tuple[str, ...]]:
    """Region code -> its départements' names."""
    result: dict[str, list[str]] = {}
    for row in _rows():
        result.setdefault(row["region_code"], []).append(row["departement"])
    return {code: tuple(names) for code, names in result.items()}


@cache
def _rows() -> tuple[dict[str, str], ...]:
    with REGIONS_FILE.open(encoding="utf-8", newline="") as handle:
        return tuple(csv.DictReader(handle))


def _regions_choices() -> list[dict[str, Any]]:
    return [{"value": code, "label": name} for code, name in regions().items()]


def _departements_choices() -> list[dict[str, Any]]:
    return [{"value": name, "label": name} for names in departements().values() for name in names]


BUILT_IN = {"regions": _regions_choices, "departements": _departements_choices}


@cache
def _built_in(name: str) -> tuple[dict[str, Any], ...]:
    return tuple(BUILT_IN[name]())


def choices_of(name: str) -> list[dict[str, Any]]:
    """The choices of a built-in referential; [] for a name that is not one."""
    if name not in BUILT_IN:
        return []
    return list(_built_in(name))


def is_known(name: str) -> bool:
    return name in BUILT_IN
