"""Loading a procedure: published ones are public, drafts only for its designers."""

from django.http import Http404

from guichet.catalog.models import Procedure
from guichet.identity.models import Role
from guichet.identity.service import AnyUser, organisations_with_role


def access_procedure(user: AnyUser, slug: str) -> Procedure:
    procedure = Procedure.objects.select_related("organisation").filter(slug=slug).first()
    if procedure is None:
        raise Http404
    if procedure.status == Procedure.Status.PUBLISHED:
        return procedure
    if procedure.organisation_id in organisations_with_role(user, {Role.DESIGNER}):
        return procedure
    raise Http404
