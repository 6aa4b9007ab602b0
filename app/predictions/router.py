"""HTTP endpoints of the prediction log and feedback: read logged rows (JSON pages or Parquet),
attach ground truth to prediction ids."""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from app.deployments.schemas import DeploymentName, VersionNumber
from app.deps import API_PREFIX, FeedbackSender, SessionDep, StoreDep, Viewer
from app.errors import DeploymentNotFound, InvalidInput, StorageUnavailable, error_responses
from app.predictions import service
from app.predictions.schemas import FeedbackCreate, FeedbackResult, PredictionPage

router = APIRouter(prefix=API_PREFIX, tags=["predictions"])
NamePath = Annotated[DeploymentName, Path(description="A deployment's name.")]
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
MAX_JSON_ROWS = 1000
MAX_PARQUET_ROWS = 100_000


@router.get(
    "/deployments/{name}/predictions",
    summary="Read a deployment's prediction log",
    response_model=PredictionPage,
    responses={
        **error_responses(DeploymentNotFound, InvalidInput, StorageUnavailable),
        200: {"content": {PARQUET_MEDIA_TYPE: {}}, "description": "A page of rows, or a Parquet file."},
    },
)
def list_predictions(
    name: NamePath,
    session: SessionDep,
    store: StoreDep,
    _: Viewer,
    since: Annotated[datetime | None, Query(description="Rows predicted at or after this time.")] = None,
    until: Annotated[datetime | None, Query(description="Rows predicted at or before this time.")] = None,
    version: Annotated[VersionNumber | None, Query(description="Only this model version's rows.")] = None,
    columns: Annotated[
        list[str] | None, Query(max_length=200, description="Only these columns (`input.<name>` for an input).")
    ] = None,
    format: Annotated[Literal["json", "parquet"], Query(description="A JSON page, or a Parquet file.")] = "json",
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=MAX_PARQUET_ROWS,
            description=f"Rows in the Parquet file, or per JSON page (a page holds at most {MAX_JSON_ROWS}).",
        ),
    ] = 100,
    page_token: Annotated[str | None, Query(max_length=512)] = None,
) -> PredictionPage | Response:
    """Flushed rows of the log, newest first, by cursor pages of JSON, or the newest `limit` rows
    as one Parquet file with `format=parquet`. Rows still in a server's buffer are not shown."""
    since, until = _aware(since, "since"), _aware(until, "until")
    if format == "parquet":
        data = service.predictions_parquet(
            session, store, name, since=since, until=until, version=version, columns=columns, limit=limit
        )
        return Response(
            data,
            media_type=PARQUET_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{name}-predictions.parquet"'},
        )
    rows, next_token = service.list_predictions(
        session,
        store,
        name,
        since=since,
        until=until,
        version=version,
        columns=columns,
        limit=min(limit, MAX_JSON_ROWS),
        page_token=page_token,
    )
    return PredictionPage(predictions=rows, next_page_token=next_token)


@router.post(
    "/deployments/{name}/feedback",
    summary="Send feedback on predictions",
    response_model=FeedbackResult,
    responses=error_responses(DeploymentNotFound, StorageUnavailable),
)
def send_feedback(
    name: NamePath, body: FeedbackCreate, session: SessionDep, store: StoreDep, actor: FeedbackSender
) -> FeedbackResult:
    """The actual outcome of each prediction id, in bulk. Sending an id again replaces its
    feedback. The answer says how many ids were found in the flushed log; the others are kept
    too (a row may be unsampled, or not flushed yet). An editor may send it, and a predict-only
    token naming the deployment."""
    return service.record_feedback(session, store, actor, name, body)


def _aware(moment: datetime | None, field: str) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        raise InvalidInput(f"{field} needs a time zone (e.g. 2026-01-01T00:00:00Z)", field=field)
    return moment
