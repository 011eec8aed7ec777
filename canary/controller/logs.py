"""structlog set-up: JSON lines by default, a readable console format on a terminal."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog

from canary import redact

Format = Literal["auto", "json", "console"]


def configure(format: Format = "auto", level: str = "info") -> None:
    """Route structlog (and stdlib logging) to stderr in the chosen format."""
    console = format == "console" or (format == "auto" and sys.stderr.isatty())
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()
    )
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redacted,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(
        level=numeric, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s"
    )
    install_record_redaction()
    # The client logs whole response bodies at debug level: a Secret's data among them.
    logging.getLogger("kubernetes.client.rest").setLevel(max(numeric, logging.INFO))


def redacted(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: every string in the event (keys, values, tracebacks) redacted."""
    cleaned: MutableMapping[str, Any] = redact.value(dict(event))
    return cleaned


_factory_installed = False


def install_record_redaction() -> None:
    """Redact every stdlib log record as it is made, whichever handler later prints it."""
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: leave it to the handler to report
            return record
        record.msg, record.args = redact.text(message), None
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True
