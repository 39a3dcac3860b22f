"""HTTP layer: the FastAPI app factory, one router per resource, OpenAI's error envelope, the extension point."""

from vectorhouse.api.app import create_app

__all__ = ["create_app"]
