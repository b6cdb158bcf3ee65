"""The API's documentation page ``/api/docs``: Swagger UI served from our own static files
(``static/vendor/swagger-ui``, Apache-2.0) so it works offline and under the pages' CSP."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

router = APIRouter()


@router.get("/api/docs", include_in_schema=False, response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    return request.app.state.templates.TemplateResponse(
        request, "swagger.html", {"openapi_url": request.app.openapi_url}
    )
