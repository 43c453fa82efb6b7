"""What the package tells about itself: standard logging and optional OpenTelemetry spans.

Loggers (all under ``pgeventstore``; the package adds no handler, the application
configures them):

* ``pgeventstore.store``: a call slower than the store's ``slow_call`` threshold
  (WARNING);
* ``pgeventstore.aggregate``: a command retried after a concurrent append (INFO) or
  after its connection failed during the append (WARNING);
* ``pgeventstore.recovery``: a follower that lost its connection and waits before
  reconnecting (WARNING), and that got through again (INFO);
* ``pgeventstore.subscription``: a projection batch that lost its checkpoint to another
  instance (INFO).

Spans, when the ``opentelemetry-api`` package is installed (``pip install
'pgeventstore[otel]'``) and the application set up a tracer provider: one per statement
the store sends (``eventstore.append_to_stream``, ``eventstore.read_all``, ...; kind
CLIENT), one per command a repository executes (``pgeventstore.execute``) and one per
event a subscription delivers or a projection applies (``pgeventstore.deliver``,
``pgeventstore.project``; kind CONSUMER). Without the package, or until the
application sets a provider, no span is made at all.

Metrics: the append rate and every subscription's lag come from the database, through
the queries :func:`postgres_exporter_queries` returns for the Prometheus
``postgres_exporter``.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any

try:
    from opentelemetry import trace as _otel
except ImportError:  # the otel extra is not installed: no spans
    _otel = None  # type: ignore[assignment]

__all__ = ["Attributes", "log_slow_call", "operation", "postgres_exporter_queries", "span"]

#: Span attributes: OpenTelemetry's primitive values.
Attributes = Mapping[str, str | bool | int | float]

store_logger = logging.getLogger("pgeventstore.store")

# The first function of the schema a statement calls; LISTEN and the like have none.
_FUNCTION = re.compile(r"\beventstore\.(\w+)\s*\(")


def operation(query: str) -> str:
    """The name of what ``query`` does: ``eventstore.<function>``, else its first word."""
    found = _FUNCTION.search(query)
    if found is not None:
        return f"eventstore.{found.group(1)}"
    return query.split(None, 1)[0].lower() if query.strip() else "statement"


def log_slow_call(query: str, seconds: float, threshold: float) -> None:
    """Log that the call of ``query`` took ``seconds``, at least ``threshold``."""
    store_logger.warning(
        "slow call: %s took %.3f s (threshold %.3f s; waiting for a pooled connection included)",
        operation(query),
        seconds,
        threshold,
    )


# The provider last seen and its tracer (a provider hands out a new tracer per call);
# holding the provider keeps the pair from matching a later provider at the same address.
_last_tracer: tuple[Any, Any] = (None, None)


def _tracer() -> Any:
    """The package's tracer, or None when spans would record nothing.

    That is without OpenTelemetry, and until the application sets a tracer provider (the
    API's own stands in for it until then): a span would cost each call its setup and
    its context switch, for nothing.
    """
    if _otel is None:
        return None
    provider = _otel.get_tracer_provider()
    if isinstance(provider, _otel.ProxyTracerProvider | _otel.NoOpTracerProvider):
        return None
    global _last_tracer
    if _last_tracer[0] is not provider:
        _last_tracer = (provider, provider.get_tracer("pgeventstore"))
    return _last_tracer[1]


@contextlib.contextmanager
def span(name: str, kind: str, attributes: Attributes) -> Iterator[Any]:
    """A span ``name`` of ``kind`` (client, consumer or internal) around the block, if tracing is on.

    An exception leaving the block is recorded on the span, which ends with an error
    status. Yields the span (None without tracing) so the block can add attributes.
    """
    tracer = _tracer()
    if tracer is None:
        yield None
        return
    span_kind = {
        "client": _otel.SpanKind.CLIENT,
        "consumer": _otel.SpanKind.CONSUMER,
        "internal": _otel.SpanKind.INTERNAL,
    }[kind]
    with tracer.start_as_current_span(name, kind=span_kind, attributes=dict(attributes)) as current:
        yield current


@contextlib.contextmanager
def call_span(query: str) -> Iterator[Any]:
    """:func:`span` of one SQL call, named by :func:`operation`; nothing at all without tracing.

    The store runs every statement through it, so without tracing it does not even look
    at the query.
    """
    if _tracer() is None:
        yield None
        return
    name = operation(query)
    with span(name, "client", {"db.system.name": "postgresql", "db.operation.name": name}) as current:
        yield current


def postgres_exporter_queries() -> str:
    """The query file of the ``postgres_exporter`` (``--extend.query-path``), as YAML text.

    Metrics: ``pgeventstore_log_head`` (a counter: ``rate()`` of it is the append rate)
    and, per subscription (label ``subscription``), ``pgeventstore_subscription_position``,
    ``_events_behind``, ``_events_held_back``, ``_held_back_seconds`` and
    ``_checkpoint_age_seconds``.
    """
    return (
        importlib.resources.files("pgeventstore")
        .joinpath("monitoring/postgres_exporter.yaml")
        .read_text(encoding="utf-8")
    )
