"""HTTP endpoints of webhooks: the recorded deliveries, and a test delivery to check a receiver."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from fastapi.concurrency import run_in_threadpool

from app.deployments.schemas import DeploymentName
from app.deps import API_PREFIX, Editor, OutboundDep, SessionDep, SessionsDep, SettingsDep
from app.errors import DeploymentNotFound, InvalidInput, UrlRefused, WebhookDeliveryNotFound, error_responses
from app.webhooks import service
from app.webhooks.schemas import DeliveryList, DeliveryRead, DeliveryStatus, EventName, WebhookTest

router = APIRouter(prefix=API_PREFIX, tags=["webhooks"])
DeliveryIdPath = Annotated[
    str, Path(pattern=r"^[0-9a-f]{32}$", description="A webhook delivery id (32 hex characters).")
]


@router.get(
    "/webhook-deliveries",
    summary="List webhook deliveries",
    response_model=DeliveryList,
    responses=error_responses(InvalidInput, DeploymentNotFound),
)
def list_deliveries(
    session: SessionDep,
    _: Editor,
    deployment: Annotated[DeploymentName | None, Query(description="Only this deployment's deliveries.")] = None,
    status_filter: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    event: Annotated[EventName | None, Query(description="Only deliveries of this event, e.g. `ping`.")] = None,
    page_token: Annotated[str | None, Query(max_length=512)] = None,
    max_results: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> DeliveryList:
    """Newest first, each with its attempts (status code, error, duration)."""
    found, next_token = service.list_deliveries(
        session,
        deployment=deployment,
        status=status_filter.value if status_filter else None,
        event=event,
        page_token=page_token,
        max_results=max_results,
    )
    return DeliveryList(deliveries=found, next_page_token=next_token)


@router.get(
    "/webhook-deliveries/{delivery_id}",
    summary="Get a webhook delivery and its attempts",
    response_model=DeliveryRead,
    responses=error_responses(WebhookDeliveryNotFound),
)
def get_delivery(delivery_id: DeliveryIdPath, session: SessionDep, _: Editor) -> DeliveryRead:
    return service.get_delivery(session, delivery_id)


@router.post(
    "/webhooks/test",
    summary="Send a test delivery",
    status_code=status.HTTP_201_CREATED,
    response_model=DeliveryRead,
    responses=error_responses(UrlRefused),
)
async def send_test_webhook(
    body: WebhookTest, sessions: SessionsDep, client: OutboundDep, settings: SettingsDep, actor: Editor
) -> DeliveryRead:
    """Send a `ping` event to `url`, signed with `secret` when one is given, retried as any delivery
    is, and answer with the recorded delivery (`delivered` or `failed`, with its attempts). A URL
    the server does not send to is a 400 `url_refused` naming the field and why."""
    # No request transaction: the delivery writes its own records between attempts.
    return await run_in_threadpool(service.send_test, sessions, client, actor, body, settings)
