"""Webhook calls of finished jobs: only to allow-listed hosts, signed, never redirected.

Signature (the scheme of Stripe's and GitHub's webhooks): header
`X-CMR-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`. A receiver
recomputes the HMAC over the timestamp, a dot and the raw body with the shared secret
(CMR_JOBS_WEBHOOK_SECRET), compares in constant time, and refuses a timestamp older than its
tolerance (5 minutes is usual) so that a captured call cannot be replayed.

SSRF: a caller names the URL, so the gateway only calls `http(s)://host[:port]` where
`host[:port]` is in CMR_JOBS_WEBHOOK_HOSTS (exact match, lower case; a bare host means the
scheme's default port), no user info, and redirects are not followed (a 3xx is a failed
delivery): no caller can make the gateway reach a host the operator did not list.
"""

import asyncio
import hashlib
import hmac
import logging
import time

import httpx

from app.errors import WebhookNotAllowedError

SIGNATURE_HEADER = "X-CMR-Signature"
DELIVERY_ATTEMPTS = 3
TIMEOUT_S = 10.0
log = logging.getLogger("app.jobs")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The X-CMR-Signature value of `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def checked_webhook_url(url: str, allowed_hosts: list[str]) -> str:
    """The URL if the gateway may call it; raises WebhookNotAllowedError otherwise (the URL
    itself is not echoed)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise WebhookNotAllowedError("`webhook_url` is not a URL") from None
    if parsed.scheme not in _DEFAULT_PORTS:
        raise WebhookNotAllowedError("`webhook_url` must be an http or https URL")
    if parsed.userinfo:
        raise WebhookNotAllowedError("`webhook_url` must not carry user info")
    host = parsed.host.lower()
    port = parsed.port or _DEFAULT_PORTS[parsed.scheme]
    entries = {entry.strip().lower() for entry in allowed_hosts}
    # A bare host on the list stands for the scheme's default port only.
    bare = host if port == _DEFAULT_PORTS[parsed.scheme] else None
    if not host or (_host_port(host, port) not in entries and bare not in entries):
        raise WebhookNotAllowedError(
            "`webhook_url`'s host is not on this gateway's allow-list (CMR_JOBS_WEBHOOK_HOSTS)"
        )
    return url


async def deliver(url: str, body: bytes, secret: bytes) -> bool:
    """POST the signed body (JSON); True once a 2xx answers, False after DELIVERY_ATTEMPTS
    (1 s, 2 s apart). A redirect is not followed: it counts as a failure."""
    async with httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False) as client:
        for attempt in range(DELIVERY_ATTEMPTS):
            if attempt:
                await asyncio.sleep(2 ** (attempt - 1))
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: signature(secret, int(time.time()), body),
            }
            try:
                response = await client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                log.warning("webhook unreachable", extra={"error_type": type(exc).__name__})
                continue
            if response.is_success:
                return True
            log.warning("webhook refused", extra={"status": response.status_code})
    return False
