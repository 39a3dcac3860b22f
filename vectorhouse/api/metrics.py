"""What the server tells its operators: Prometheus metrics at /metrics, the ingestion counters as JSON at
/metrics.json, /ready, and one log line per request (request id, route, status, duration)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vectorhouse.api.deps import authenticate

access = logging.getLogger("vectorhouse.access")
# Seconds: a keyword search is ~1 ms, a hybrid search ~10 ms, an upload of a large file seconds.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServiceCollector(Collector):
    """Read at each scrape from the service itself: queue, files, chunks, ingestion counters."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        vh = getattr(self.app.state, "vectorhouse", None)
        if vh is None:  # still starting
            return
        queue = vh.telemetry.queue()
        yield GaugeMetricFamily("vectorhouse_ingest_queue_jobs", "Ingestion jobs waiting or running.", queue.depth)
        yield GaugeMetricFamily("vectorhouse_ingest_claimed_jobs", "Ingestion jobs held by a worker now.",
                                queue.claimed)
        yield GaugeMetricFamily("vectorhouse_ingest_oldest_job_age_seconds",
                                "How long the oldest ingestion job has waited.", queue.oldest_age_seconds)
        files = GaugeMetricFamily("vectorhouse_store_files", "Vector store files by status.", labels=["status"])
        for status, count in vh.telemetry.files_by_status().items():
            files.add_metric([status], count)
        yield files
        chunks = GaugeMetricFamily("vectorhouse_index_chunks", "Chunks of completed files per index backend.",
                                   labels=["backend"])
        for backend, count in vh.telemetry.chunks_by_backend().items():
            chunks.add_metric([backend], count)
        yield chunks
        stats = vh.ingestion.stats.as_dict()
        for name, help_text in (
            ("files_completed", "Files ingested since start."), ("files_failed", "Files failed since start."),
            ("chunks", "Chunks embedded and indexed since start."),
            ("embed_busy_seconds", "Wall time with an embedding call running (the embedder's busy time)."),
            ("embed_seconds", "Embedding time summed over workers."), ("extract_seconds", "Extraction time."),
            ("index_seconds", "Index write time."),
        ):
            yield CounterMetricFamily(f"vectorhouse_ingest_{name}", help_text, value=stats[name])


def route_label(scope: Scope) -> str:
    """The matched route's template with the prefix it was mounted under ("/v1/vector_stores/{vector_store_id}"),
    so labels stay few whatever the ids; "unmatched" when no route matched."""
    template = getattr(scope.get("route"), "path", None)
    if not template:
        return "unmatched"
    # A router included with a prefix keeps its own template: the prefix is the request path's segments
    # before the template's own.
    own = template.strip("/").split("/")
    actual = str(scope.get("path", "")).strip("/").split("/")
    prefix = actual[: max(0, len(actual) - len(own))]
    return "/" + "/".join([*prefix, *own]) if prefix else template


class RequestTelemetry:
    """ASGI middleware: times every request, counts it by method, route template and status, logs it."""

    def __init__(self, app: ASGIApp, requests: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - started
            route = route_label(scope)
            method = scope.get("method", "")
            self.requests.labels(method, route, str(status)).inc()
            self.latency.labels(method, route).observe(elapsed)
            request_id = (scope.get("state") or {}).get("request_id", "")
            access.info("%s %s %s %d %.1fms", request_id, method, route, status, elapsed * 1000,
                        extra={"request_id": request_id, "method": method, "route": route,
                               "path": scope.get("path", ""), "status": status,
                               "duration_ms": round(elapsed * 1000, 3)})


def install_metrics(app: FastAPI) -> None:
    """The metrics registry of this app (one per app, so several apps in a process do not clash)."""
    registry = CollectorRegistry()
    requests = Counter("vectorhouse_http_requests", "HTTP requests by method, route and status.",
                       ["method", "route", "status"], registry=registry)
    latency = Histogram("vectorhouse_http_request_duration_seconds", "HTTP request latency by route.",
                        ["method", "route"], buckets=LATENCY_BUCKETS, registry=registry)
    registry.register(ServiceCollector(app))
    app.add_middleware(RequestTelemetry, requests=requests, latency=latency)
    router = APIRouter(tags=["health"])

    @router.get("/metrics", dependencies=[Depends(authenticate)], response_class=Response)
    def metrics() -> Response:
        """Prometheus text exposition (scrape it with the key as a bearer token once keys exist)."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @router.get("/metrics.json", dependencies=[Depends(authenticate)])
    def metrics_json() -> dict[str, dict[str, float]]:
        """Ingestion counters since start (what `vectorhouse bench` reads)."""
        return {"ingest": app.state.vectorhouse.ingestion.stats.as_dict()}

    @router.get("/ready", response_model=None)
    async def ready(request: Request) -> Any:
        """200 when the model is loaded and the catalog and every configured backend answer; else 503."""
        vh = getattr(request.app.state, "vectorhouse", None)
        if vh is None:
            return JSONResponse({"status": "starting", "checks": {}}, status_code=503)
        checks = await run_in_threadpool(vh.telemetry.readiness)
        ok = all(value == "ok" for value in checks.values())
        return JSONResponse({"status": "ready" if ok else "unavailable", "checks": checks},
                            status_code=200 if ok else 503)

    app.include_router(router)
