"""The playground page: `GET /` serves a static page (HTML, CSS and JS in `service/static`,
nothing fetched from elsewhere, no build step) that classifies a pasted document through the
public API and highlights the words that decided (`explain`)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIRECTORY = Path(__file__).parent / "static"
PAGE = STATIC_DIRECTORY / "index.html"


def install_playground(app: FastAPI) -> None:
    """`GET /` answers the page, `/static/...` its stylesheet and script; neither is in the
    OpenAPI document (they are not the API) and neither needs the API key (the page asks for
    it and sends it with its API calls)."""

    @app.get("/", include_in_schema=False)
    async def playground() -> FileResponse:
        return FileResponse(PAGE, media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIRECTORY), name="static")
