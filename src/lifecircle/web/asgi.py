"""ASGI entry point for process managers: ``uvicorn lifecircle.web.asgi:app`` (settings from the
environment; run ``lifecircle platform init`` first, or let ``lifecircle serve`` do it)."""

from lifecircle.web.app import create_app

app = create_app(migrate=False)
