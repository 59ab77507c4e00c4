"""Alembic migrations (run through `twin db upgrade`)."""
