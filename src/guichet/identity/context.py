from django.http import HttpRequest

from guichet.identity.service import is_agent


def agent_context(request: HttpRequest) -> dict[str, bool]:
    user = getattr(request, "user", None)
    return {"is_agent": bool(user is not None and is_agent(user))}
