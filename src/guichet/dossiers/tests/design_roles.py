"""A procedure's workflow as it could be stored before workflows were refused the design roles
(catalog/workflow_def.py, DESIGN_ROLES): the default workflow with `designer` and `org_admin`
added to every agent's step. Written to the row directly, since no page or command accepts it
any more; the dossiers of such a procedure must still be out of those roles' sight."""

import copy

from guichet.catalog.models import Procedure
from guichet.catalog.workflow_def import APPLICANT, DEFAULT_WORKFLOW, DESIGN_ROLES
from guichet.testing import BIRTH


def workflow_naming_design_roles() -> dict[str, object]:
    workflow = copy.deepcopy(DEFAULT_WORKFLOW)
    for transition in workflow["transitions"]:
        if APPLICANT not in transition["by"]:
            transition["by"] = [*transition["by"], *DESIGN_ROLES]
    for state in workflow["states"].values():
        if state.get("actors") and APPLICANT not in state["actors"]:
            state["actors"] = [*state["actors"], *DESIGN_ROLES]
    return workflow


def store_workflow_naming_design_roles(slug: str = BIRTH) -> None:
    Procedure.objects.filter(slug=slug).update(workflow=workflow_naming_design_roles())
