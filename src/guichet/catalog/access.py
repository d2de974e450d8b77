"""Loading a procedure: published (and closed) ones are public, drafts only for its designers."""

from uuid import UUID

from django.http import Http404

from guichet.catalog.models import Procedure
from guichet.identity.models import Role
from guichet.identity.service import AnyUser, organisations_with_role


def access_procedure(user: AnyUser, slug: str) -> Procedure:
    procedure = Procedure.objects.select_related("organisation").filter(slug=slug).first()
    if procedure is None:
        raise Http404
    # A closed procedure keeps its page: it says so and links to its replacement.
    if procedure.status in (Procedure.Status.PUBLISHED, Procedure.Status.ARCHIVED):
        return procedure
    if procedure.organisation_id in designer_organisations(user):
        return procedure
    raise Http404


# Who may change an organisation's procedures (the designer pages).
DESIGN_ROLES = frozenset({Role.DESIGNER, Role.ORG_ADMIN})


def designer_organisations(user: AnyUser) -> set[UUID]:
    return organisations_with_role(user, DESIGN_ROLES)


def access_designed_procedure(user: AnyUser, slug: str) -> Procedure:
    """A procedure for its designers (or organisation administrators) only; 404 to anyone else,
    who need not learn that an unpublished procedure exists."""
    procedure = Procedure.objects.select_related("organisation").filter(slug=slug).first()
    if procedure is None or procedure.organisation_id not in designer_organisations(user):
        raise Http404
    return procedure
