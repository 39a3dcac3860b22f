"""Pydantic wire models mirroring OpenAI's Files + Vector Stores objects, and their validators."""
