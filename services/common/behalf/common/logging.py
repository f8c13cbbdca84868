"""structlog set up for JSON lines on stderr, with secrets redacted before rendering and, when
tracing is on, the active span's trace and span ids on each line."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from behalf.common.tracing import add_trace_ids

_SECRET_KEYS = re.compile(r"(secret|password|token|authorization|api_key|master_key)", re.I)
_SECRET_VALUES = re.compile(r"(whsec_[A-Za-z0-9+/=]+|bh[ks]_[A-Za-z0-9_]+)")
REDACTED = "[redacted]"


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Blank out values under secret-looking keys and anything shaped like one of our secrets."""
    for key, value in list(event_dict.items()):
        if _SECRET_KEYS.search(key) and key != "event":
            event_dict[key] = REDACTED
        elif isinstance(value, str):
            event_dict[key] = _SECRET_VALUES.sub(REDACTED, value)
    return event_dict


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route structlog and stdlib logging to JSON lines on stderr."""
    numeric_level = logging.getLevelName(level.upper())
    if not isinstance(numeric_level, int):
        numeric_level = logging.INFO
    logging.basicConfig(stream=sys.stderr, level=numeric_level, format="%(message)s")
    for noisy in ("aiokafka", "kafka", "asyncio"):
        logging.getLogger(noisy).setLevel(max(numeric_level, logging.WARNING))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_trace_ids,  # trace_id, span_id: only while tracing is on and a span is active
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_secrets,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
