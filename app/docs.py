"""`/docs`: Swagger UI from files the server ships (the swagger-ui-bundle-v2 package), so the API
reference works offline and loads nothing from a CDN."""

from pathlib import Path
from typing import Annotated

import swagger_ui_bundle
from fastapi import APIRouter, FastAPI, Request
from fastapi import Path as PathParam
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from app.errors import NotFound

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
# The only files served: the page needs these three; nothing else in the package is reachable.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
_ASSET_DIR = Path(swagger_ui_bundle.swagger_ui_path)
# Swagger UI would otherwise send the schema to validator.swagger.io for its badge.
_SWAGGER_PARAMETERS = {"validatorUrl": None}

router = APIRouter(include_in_schema=False)


@router.get(DOCS_PATH)
def docs(request: Request) -> HTMLResponse:
    """The interactive API reference."""
    root = request.scope.get("root_path", "").rstrip("/")
    app: FastAPI = request.app
    return get_swagger_ui_html(
        openapi_url=f"{root}{app.openapi_url}",
        title=f"{app.title} API",
        swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon-32x32.png",
        swagger_ui_parameters=_SWAGGER_PARAMETERS,
    )


@router.get(f"{ASSETS_PATH}/{{name}}")
def docs_asset(name: Annotated[str, PathParam(max_length=64)]) -> FileResponse:
    """One of the Swagger UI files the page loads."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound(f"no docs asset named {name!r}; there are {', '.join(sorted(ASSETS))}")
    # Versioned with the package, so a browser may keep it for a day.
    return FileResponse(_ASSET_DIR / name, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})
