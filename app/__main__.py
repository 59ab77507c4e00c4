"""``python -m app`` is the ``twin`` command."""

from app.cli import main

main()
