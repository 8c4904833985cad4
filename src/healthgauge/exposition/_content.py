"""Which format a page is in, from its Content-Type, as Prometheus decides it."""

from __future__ import annotations

from healthgauge.exposition._errors import ParseError

PROMETHEUS_TEXT = "text/plain; version=0.0.4"
OPENMETRICS_TEXT = "application/openmetrics-text; version=1.0.0"

# The Accept header Prometheus 2.42 sends when it scrapes (without the protobuf it asks for only
# with native histograms enabled): send the same and a target answers us as it answers Prometheus.
ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)

_OPENMETRICS_MEDIA = "application/openmetrics-text"
_PROTOBUF_MEDIA = "application/vnd.google.protobuf"


def is_openmetrics(content_type: str | None) -> bool:
    """True when a Content-Type header selects OpenMetrics text, False for Prometheus text.

    Prometheus (``textparse.New``) reads OpenMetrics for ``application/openmetrics-text`` with any
    parameters, and the text format for everything else, including a missing or malformed header.
    The protobuf format is the one exception: we do not read it, and saying so beats misreading it.
    """
    if not content_type:
        return False
    media = content_type.partition(";")[0].strip().lower()
    if media == _OPENMETRICS_MEDIA:
        return True
    if media == _PROTOBUF_MEDIA:
        raise ParseError(
            f"unsupported content type {content_type!r}: the protobuf format is not supported, ask for text",
            line=0,
            column=0,
        )
    return False
