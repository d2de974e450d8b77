"""Loading identity objects a user may act on."""

from uuid import UUID

from django.http import Http404

from guichet.identity.models import ApiToken, User


def access_token(user: User, token_id: UUID) -> ApiToken:
    """A user sees only their own tokens; anyone else's is as if it did not exist."""
    token = ApiToken.objects.filter(pk=token_id, user=user).first()
    if token is None:
        raise Http404
    return token
