"""Posting a report bundle to the hospital's FHIR server as one `transaction`.

The server is configured (CMR_FHIR_SERVER_URL, CMR_FHIR_SERVER_TOKEN), never named by a caller;
redirects are not followed, so the bundle only ever goes to that server.
"""

from typing import Any

import httpx
from fhir.resources.R4B.bundle import Bundle
from pydantic import AnyHttpUrl, SecretStr, ValidationError

from app.errors import FhirServerError
from app.reporting.fhir import FHIR_MEDIA_TYPE, as_transaction

TIMEOUT_S = 30.0


async def post_transaction(
    bundle: dict[str, Any], base_url: AnyHttpUrl, token: SecretStr | None
) -> dict[str, Any]:
    """POST the bundle as a transaction to the server's base URL -> its transaction-response
    Bundle (each entry's `response.location` names a created resource). Raises FhirServerError
    on a transport error, a non-2xx answer or an answer that is not such a Bundle."""
    headers = {"Content-Type": FHIR_MEDIA_TYPE, "Accept": FHIR_MEDIA_TYPE}
    if token is not None:
        headers["Authorization"] = f"Bearer {token.get_secret_value()}"
    async with httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False) as client:
        try:
            response = await client.post(
                str(base_url).rstrip("/"), json=as_transaction(bundle), headers=headers
            )
        except httpx.HTTPError as exc:
            raise FhirServerError(
                f"the FHIR server is unreachable ({type(exc).__name__})"
            ) from None
    if not response.is_success:
        raise FhirServerError(f"the FHIR server refused the transaction: {response.status_code}")
    try:
        answer = response.json()
        parsed = Bundle.model_validate(answer)
    except (ValueError, ValidationError):
        raise FhirServerError("the FHIR server's answer is not a FHIR Bundle") from None
    if parsed.type != "transaction-response":
        raise FhirServerError("the FHIR server's answer is not a transaction-response Bundle")
    return answer
