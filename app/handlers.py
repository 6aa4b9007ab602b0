"""Exception handlers: every error leaves as RFC 9457 problem details with a stable code."""

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException

from app import validation
from app.errors import PROBLEM_CONTENT_TYPE, AppError, DatabaseUnavailable, problem_body, validation_problem
from app.route_methods import routed_methods

logger = logging.getLogger("shipyard.errors")
RETRY_AFTER_SECONDS = 2

_HTTP_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
}


def _problem(status: int, body: dict[str, object], headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=PROBLEM_CONTENT_TYPE, headers=headers)


async def handle_app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    elif exc.status == 503:
        # An outage of a backing service, not of the request: tell the client when to retry.
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if exc.status == 408:
        # The rest of the request may never come: the connection cannot carry another one.
        headers["Connection"] = "close"
    if exc.status >= 500:
        logger.warning("%s on %s %s: %s", exc.code, request.method, request.url.path, exc.detail)
    return _problem(exc.status, exc.problem(request.url.path), headers or None)


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    errors = [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in raw
    ]
    route = request.scope.get("route")
    sentences = [_sentence(route, error) for error in raw]
    return _problem(422, validation_problem(errors, request.url.path, sentences))


def _sentence(route: object, error: Mapping[str, Any]) -> str:
    """The error in words, helped by the route: the body model's field names for a typo, and a
    parameter's description for a value that does not match its pattern."""
    loc = list(error.get("loc", ()))
    if not isinstance(route, APIRoute) or not loc:
        return validation.sentence(error)
    if loc[0] == "body" and error.get("type") == "extra_forbidden" and route.body_field is not None:
        body_model = route.body_field.field_info.annotation
        model = body_model if isinstance(body_model, type) and issubclass(body_model, BaseModel) else None
        return validation.sentence(error, allowed=validation.fields_at(model, loc[1:-1]))
    params = {"path": route.dependant.path_params, "query": route.dependant.query_params}.get(str(loc[0]), [])
    for param in params:
        if len(loc) == 2 and loc[1] in (param.alias, param.name):
            return validation.sentence(error, expects=param.field_info.description)
    return validation.sentence(error)


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        # FastAPI's own parse failure for a JSON body that is not UTF-8: invalid JSON, so 422 as for any other.
        error = {"loc": ["body"], "msg": "the body is not UTF-8 encoded JSON", "type": "json_invalid"}
        return _problem(422, validation_problem([error], request.url.path))
    code, title = _HTTP_CODES.get(exc.status_code, ("http_error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route matches {request.url.path}"
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette names only the first route whose path matched; a path served by several routes
        # (GET and POST /experiments) answers all their methods.
        allowed = routed_methods(request.scope)
        headers["Allow"] = ", ".join(allowed)
        detail = f"{request.method} is not allowed on {request.url.path}; allowed: {headers['Allow']}"
    return _problem(
        exc.status_code, problem_body(exc.status_code, code, title, detail, request.url.path), headers or None
    )


async def handle_database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # A lost connection (Postgres restarting, network) is the server's state, not a bug: 503,
    # and the pool's pre-ping replaces the dead connections once the database is back.
    if isinstance(exc, DBAPIError) and not (isinstance(exc, OperationalError) or exc.connection_invalidated):
        logger.exception("database error")
        return _problem(
            500, problem_body(500, "internal_error", "Internal server error", "an unexpected error occurred")
        )
    logger.warning("database unavailable: %s", type(exc.orig if isinstance(exc, DBAPIError) else exc).__name__)
    return await handle_app_error(request, DatabaseUnavailable("the metadata database is unavailable; retry shortly"))


async def handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return _problem(500, problem_body(500, "internal_error", "Internal server error", "an unexpected error occurred"))


Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]
V2_PREFIX = "/v2"


def _with_v2_error(handler: Handler) -> Handler:
    """Open Inference Protocol clients read an error as `{"error": <message>}`: on /v2 routes the
    problem also carries `error`, its detail."""

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        response = await handler(request, exc)
        path = request.url.path
        if path != V2_PREFIX and not path.startswith(V2_PREFIX + "/"):
            return response
        body = json.loads(bytes(response.body))
        body["error"] = body.get("detail", "")
        headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")}
        return _problem(response.status_code, body, headers or None)

    return handle


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _with_v2_error(handle_app_error))
    app.add_exception_handler(RequestValidationError, _with_v2_error(handle_validation_error))
    app.add_exception_handler(HTTPException, _with_v2_error(handle_http_exception))
    app.add_exception_handler(DBAPIError, _with_v2_error(handle_database_unavailable))
    app.add_exception_handler(Exception, handle_unexpected)
