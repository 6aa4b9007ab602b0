"""`shipyard server`: migrate, create the first admin, and serve with uvicorn."""

import logging

import uvicorn

from app.bootstrap import ensure_admin
from app.db.migrate import upgrade_to_head
from app.http_deadline import protocol_with_header_deadline
from app.main import create_app
from app.observability import configure_logging
from app.settings import Settings, get_settings

logger = logging.getLogger("shipyard.server")


def serve(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_to_head(settings)
    app = create_app(settings)
    ensure_admin(app.state.sessions, settings)
    if settings.host not in ("127.0.0.1", "localhost", "::1") and "*" not in settings.allowed_hosts:
        # Reachable from elsewhere, but a request naming any other host is refused with 400.
        logger.warning("listening on %s; serving the hosts %s only", settings.host, ", ".join(settings.allowed_hosts))
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        http=protocol_with_header_deadline(settings.client_timeout_seconds),
    )
