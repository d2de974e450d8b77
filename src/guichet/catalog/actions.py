"""Every write to the catalog."""

from typing import Any

from django.db import transaction

from guichet.catalog.forms import check_definition
from guichet.catalog.models import Procedure
from guichet.identity.models import Organisation


@transaction.atomic
def do_save_procedure(organisation: Organisation, slug: str, **attributes: Any) -> Procedure:
    """Create or update a procedure; a changed form bumps its version so dossiers keep theirs."""
    check_definition(attributes.get("form", []))
    procedure = Procedure.objects.select_for_update().filter(slug=slug).first()
    if procedure is None:
        procedure = Procedure(slug=slug, organisation=organisation, **attributes)
    else:
        if "form" in attributes and attributes["form"] != procedure.form:
            procedure.version += 1
        procedure.organisation = organisation
        for key, value in attributes.items():
            setattr(procedure, key, value)
    procedure.full_clean()
    procedure.save()
    return procedure


@transaction.atomic
def do_publish_procedure(procedure: Procedure) -> Procedure:
    procedure.status = Procedure.Status.PUBLISHED
    procedure.save(update_fields=["status", "search_text", "updated_at"])
    return procedure
