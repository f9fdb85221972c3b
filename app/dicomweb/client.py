"""A DICOMweb client (dicomweb-client) for one configured source, hardened for a gateway.

- Redirects are refused, not followed: a PACS (or whatever answers in its place) could
  otherwise send the gateway, with the source's credentials, to any host.
- No proxies, .netrc or CA bundle from the environment (`trust_env` off): the operator's
  configuration is the only say on where the gateway connects and with which credentials.
- A timeout on every call, no retries (the request has its own deadline), and the library's
  log quiet: its messages name study UIDs and URLs.
Every failure leaves as a typed CmrError (`translated_errors`).
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.errors import InvalidDicomError

from app.dicomweb.models import DicomwebSource
from app.errors import (
    DicomwebError,
    DicomwebRedirectError,
    DicomwebTimeoutError,
    DicomwebUnavailableError,
    StudyNotFoundError,
)

logging.getLogger("dicomweb_client").setLevel(logging.ERROR)


class _RedirectRefused(Exception):
    pass


def _refuse_redirects(response: requests.Response, *args: object, **kwargs: object) -> None:
    """A response hook: runs before requests would follow a redirect."""
    if response.is_redirect or response.is_permanent_redirect:
        response.close()
        raise _RedirectRefused


def open_client(source: DicomwebSource) -> DICOMwebClient:
    session = requests.Session()
    session.trust_env = False
    session.max_redirects = 0  # a second guard: requests raises before following one
    session.hooks["response"] = [_refuse_redirects]
    if source.token is not None:
        session.headers["Authorization"] = f"Bearer {source.token.get_secret_value()}"
    elif source.username is not None and source.password is not None:
        session.auth = (source.username, source.password.get_secret_value())
    client = DICOMwebClient(
        str(source.url).rstrip("/"),
        session=session,
        permissive_uid=True,  # archives keep non-conformant UIDs; the gateway checked the form
        timeout=source.timeout_s,
    )
    client.set_http_retry_params(retry=False)
    return client


@contextmanager
def translated_errors(what: str, not_found: str | None = None) -> Iterator[None]:
    """Turn the failures of a DICOMweb call (`what`, for messages) into CmrErrors; a 404 is
    StudyNotFoundError(`not_found`) where that is given. Messages never quote the server's
    answer (it may name the patient)."""
    try:
        yield
    except _RedirectRefused:
        raise DicomwebRedirectError(
            f"the DICOMweb source answered the {what} with a redirect, which is never followed"
        ) from None
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        if status == 404 and not_found is not None:
            raise StudyNotFoundError(not_found) from None
        if status in (401, 403):
            raise DicomwebError(
                f"the DICOMweb source refused the gateway's credentials ({status}) for the {what}"
            ) from None
        raise DicomwebError(f"the DICOMweb source answered the {what} with {status}") from None
    except requests.Timeout:
        raise DicomwebTimeoutError(
            f"the DICOMweb source did not answer the {what} in time"
        ) from None
    except requests.TooManyRedirects:
        raise DicomwebRedirectError(
            f"the DICOMweb source answered the {what} with a redirect, which is never followed"
        ) from None
    except requests.ConnectionError:
        raise DicomwebUnavailableError(f"the DICOMweb source cannot be reached ({what})") from None
    except (
        requests.RequestException,
        InvalidDicomError,
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        OSError,
    ) as exc:
        raise DicomwebError(
            f"unreadable answer of the DICOMweb source to the {what} ({type(exc).__name__})"
        ) from None
