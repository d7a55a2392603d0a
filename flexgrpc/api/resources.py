"""Resource names (AIP-122) and the rule that a caller reaches only its own organization."""

from __future__ import annotations

from flexgrpc.accounts.store import Principal
from flexgrpc.errors import FlexError

ORGANIZATIONS = "organizations/"
SELF = "-"


def organization_id(name: str, principal: Principal, *, field: str) -> str:
    """The organization id in ``organizations/{id}`` (``-`` = the caller's), if it is the caller's.

    Another organization's name is ``permission_denied`` whether or not it exists, so that names
    cannot be probed.
    """
    if not name.startswith(ORGANIZATIONS) or "/" in name[len(ORGANIZATIONS) :]:
        raise FlexError(
            "invalid_argument",
            f"{field} must be `organizations/{{organization}}` "
            "(or `organizations/-` for your own), "
            f"got {name[:80]!r}.",
            field=field,
        )
    org = name[len(ORGANIZATIONS) :]
    if org == SELF:
        return principal.organization_id
    if org != principal.organization_id:
        raise FlexError(
            "permission_denied",
            f"This API key belongs to organizations/{principal.organization_id} and cannot read "
            f"{name}. Use `organizations/-` for your own organization.",
            field=field,
        )
    return org
