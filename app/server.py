"""`shipyard server`: check the settings, then serve with uvicorn; the app migrates and creates
the first admin once the database answers (see app.ops.startup)."""

import sys

import uvicorn

from app.bootstrap import start_problem
from app.main import create_app
from app.observability import configure_logging
from app.settings import Settings, get_settings


def serve(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    problem = start_problem(settings)
    if problem is not None:
        sys.exit(f"shipyard server: {problem}")
    configure_logging(settings.log_level, settings.log_json)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False, proxy_headers=False)
