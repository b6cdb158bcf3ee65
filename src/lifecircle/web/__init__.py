"""The officials' web application (FastAPI): JSON API, server-rendered pages, offline map."""
