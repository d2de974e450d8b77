from django.http import HttpRequest

from guichet.identity.models import Role
from guichet.identity.service import is_agent, organisations_with_role

# Who sees the link to the designer pages (catalog.access.DESIGN_ROLES checks the pages).
DESIGN_ROLES = (Role.DESIGNER, Role.ORG_ADMIN)


def agent_context(request: HttpRequest) -> dict[str, bool]:
    user = getattr(request, "user", None)
    if user is None:
        return {"is_agent": False, "is_designer": False}
    agent = is_agent(user)
    return {
        "is_agent": agent,
        "is_designer": agent and bool(organisations_with_role(user, DESIGN_ROLES)),
    }
