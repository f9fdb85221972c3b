"""Structured JSON logs, one object per line, with the request id.

What is logged is chosen field by field (route, status, timings, error code): never file
names, DICOM values or exception messages, any of which may carry patient identifiers.
"""

import json
import logging
import sys
from datetime import UTC, datetime

_STANDARD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD_FIELDS})
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    """JSON to stderr for the app's loggers and uvicorn's; uvicorn's access log is replaced
    by the gateway's own request log (which knows the route template and request id)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("app", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level)
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True
