"""What other apps may ask of the dossiers app (besides its actions, for writes).

The catalog's designer pages show each procedure's test dossiers: how many there are, and the
designer's own, which they filed and may open as their applicant. Counts read no content; the
list is the designer's own dossiers, through the same query as any applicant's list.
"""

from collections.abc import Iterable
from uuid import UUID

from django.db.models import Count

from guichet.catalog.models import Procedure
from guichet.dossiers import access
from guichet.dossiers.models import Dossier
from guichet.identity.models import User

# Names do not start with "test": a test module importing them would have pytest run them.


def count_test_dossiers(procedures: Iterable[Procedure]) -> dict[UUID, int]:
    """The number of test dossiers of each procedure, by procedure id (absent: none)."""
    rows = (
        Dossier.objects.filter(procedure__in=list(procedures), is_test=True)
        .values("procedure_id")
        .annotate(count=Count("id"))
    )
    return {row["procedure_id"]: row["count"] for row in rows}


def count_test_dossiers_of(procedure: Procedure) -> int:
    return count_test_dossiers([procedure]).get(procedure.pk, 0)


def own_test_dossiers(user: User, procedure: Procedure, limit: int = 50) -> list[Dossier]:
    """The test dossiers this user filed for the procedure, newest first."""
    return list(
        access.applicant_dossiers(user)
        .filter(procedure=procedure, is_test=True)
        .order_by("-created_at")[:limit]
    )
