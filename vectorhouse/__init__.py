"""vectorhouse: a self-hosted, OpenAI-compatible Files + Vector Stores service."""

__version__ = "0.1.0"
