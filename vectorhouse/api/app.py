"""The FastAPI app factory: routers under /v1, error envelope, /health, and the service lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from starlette.concurrency import run_in_threadpool

from vectorhouse import __version__
from vectorhouse.api import file_batches, files, organization, responses, vector_store_files, vector_stores
from vectorhouse.api.deps import authenticate, query_without_nul
from vectorhouse.api.errors import RequestIdMiddleware, install_error_handlers
from vectorhouse.api.extensions import Extension
from vectorhouse.api.metrics import install_metrics
from vectorhouse.clock import Clock
from vectorhouse.config import Settings
from vectorhouse.service import Vectorhouse


def create_app(settings: Settings | None = None, clock: Clock | None = None,
               extensions: Sequence[Extension] = ()) -> FastAPI:
    """The app; `extensions` (api/extensions.py) add their routes and error bodies."""
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
    # Every route but /health takes the caller's key first: without one, nothing else is looked at.
    guarded = [Depends(authenticate), Depends(query_without_nul)]
    for module in (files, vector_stores, vector_store_files, file_batches, responses, organization):
        app.include_router(module.router, prefix="/v1", dependencies=guarded)
    app.state.extensions = tuple(extensions)
    for extension in app.state.extensions:
        for router in extension.routers():
            app.include_router(router, dependencies=guarded)
        for router in getattr(extension, "public_routers", tuple)():
            app.include_router(router)
    install_metrics(app)  # inside the request id middleware, so its log lines carry the id
    app.add_middleware(RequestIdMiddleware)

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        """Live: the process answers (readiness is /ready)."""
        return {"status": "ok"}

    return app
