"""Which HTTP methods the app routes for a request's path: the `Allow` header of a 405, and the
edge's choice between 415 (a route takes this method, not this body) and routing's 404/405."""

from starlette.routing import Match
from starlette.types import Scope

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def routes(scope: Scope, method: str) -> bool:
    """True when some route answers `method` on this request's path."""
    router = getattr(scope.get("app"), "router", None)
    # A fresh scope per probe: matching writes routing state into the scope it is given.
    probe = {"type": "http", "path": scope["path"], "root_path": scope.get("root_path", ""), "method": method}
    return any(route.matches(probe)[0] == Match.FULL for route in getattr(router, "routes", None) or [])


def routed_methods(scope: Scope) -> list[str]:
    """Every method the path answers, not only those of the first route whose path matched."""
    return [method for method in _METHODS if routes(scope, method)]
