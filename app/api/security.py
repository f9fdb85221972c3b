"""API keys: `Authorization: Bearer <key>` or `X-API-Key: <key>`.

Only sha256 digests of the keys are configured (CMR_API_KEYS_SHA256), and the digest of a
presented key is compared with each in constant time. With no keys configured the API is open,
for development only; the gateway logs a warning at startup.
"""

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.audit.trail import key_id
from app.errors import UnauthorizedError

_bearer = HTTPBearer(auto_error=False, description="an API key as a bearer token")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key")


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def matching_digest(presented: str, digests: list[str]) -> str | None:
    """The configured digest the presented key hashes to, or None."""
    digest = key_digest(presented).encode()
    matched = None
    for expected in digests:  # no early exit: time does not depend on which key matched
        if hmac.compare_digest(digest, expected.lower().encode()):
            matched = expected
    return matched


async def require_api_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
) -> None:
    digests: list[str] = request.app.state.settings.api_keys_sha256
    if not digests:
        return
    presented = bearer.credentials if bearer is not None else api_key
    if not presented:
        raise UnauthorizedError("an API key is required: Authorization: Bearer <key> or X-API-Key")
    matched = matching_digest(presented, digests)
    if matched is None:
        raise UnauthorizedError("the API key is not valid")
    request.state.caller = key_id(matched)  # the audit trail's caller: never the key
