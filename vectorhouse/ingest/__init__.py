"""Ingestion: turning uploaded files into text and token-bounded chunks."""
