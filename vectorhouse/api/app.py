"""The FastAPI app factory: routers under /v1, error envelope, /health, and the service lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from starlette.concurrency import run_in_threadpool

from vectorhouse import __version__
from vectorhouse.api import file_batches, files, vector_store_files, vector_stores
from vectorhouse.api.deps import query_without_nul
from vectorhouse.api.errors import RequestIdMiddleware, install_error_handlers
from vectorhouse.clock import Clock
from vectorhouse.compat.vector_stores_api import build_router as build_vector_stores_api
from vectorhouse.config import Settings
from vectorhouse.service import Vectorhouse


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Loading the model takes seconds: do it before uvicorn accepts connections, off the loop.
        vh = await run_in_threadpool(Vectorhouse, settings, clock)
        vh.start()
        app.state.vectorhouse = vh
        try:
            yield
        finally:
            await run_in_threadpool(vh.close)

    app = FastAPI(title="vectorhouse", version=__version__, lifespan=lifespan)
    install_error_handlers(app)
    for module in (files, vector_stores, vector_store_files, file_batches):
        app.include_router(module.router, prefix="/v1", dependencies=[Depends(query_without_nul)])
    app.include_router(build_vector_stores_api(), dependencies=[Depends(query_without_nul)])
    app.add_middleware(RequestIdMiddleware)

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", tags=["health"])
    def metrics() -> dict[str, dict[str, float]]:
        """Ingestion counters since start (what `vectorhouse bench` reads)."""
        return {"ingest": app.state.vectorhouse.ingestion.stats.as_dict()}

    return app
