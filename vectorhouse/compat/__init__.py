"""Older API shapes kept alive as thin adapters over the same services."""
