"""HTTP layer: the FastAPI app factory, one router per resource, and OpenAI's error envelope."""

from vectorhouse.api.app import create_app

__all__ = ["create_app"]
