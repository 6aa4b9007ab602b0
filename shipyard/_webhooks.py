"""`Client` methods of webhooks: list the recorded deliveries, read one, and send a test."""

from shipyard._base import ClientBase, segment
from shipyard.schemas import Page, WebhookDelivery


class WebhooksMixin(ClientBase):
    def test_webhook(self, url: str, *, secret: str | None = None) -> WebhookDelivery:
        """Have the server send a `ping` event to `url`, to check a receiver before a monitor uses it.

        Args:
            url: the receiver (http or https, no credentials in it).
            secret: signs the body (X-Shipyard-Signature); check it with
                `shipyard.webhooks.verify_signature`.

        Returns:
            The recorded `WebhookDelivery`: ``delivered``, or ``failed`` with its attempts saying why.

        Raises:
            UrlRefused: the server does not send to this URL (the detail says why: a private
                address, a scheme, credentials…).
            Forbidden: the token's role is below editor.
        """
        body: dict[str, str] = {"url": url}
        if secret is not None:
            body["secret"] = secret
        return WebhookDelivery.from_json(self._request("POST", "/webhooks/test", json=body).json())

    def get_webhook_delivery(self, delivery_id: str) -> WebhookDelivery:
        """One delivery with all its attempts.

        Raises:
            WebhookDeliveryNotFound: no delivery has this id.
        """
        return WebhookDelivery.from_json(self._request("GET", f"/webhook-deliveries/{segment(delivery_id)}").json())

    def list_webhook_deliveries(
        self,
        *,
        deployment: str | None = None,
        status: str | None = None,
        event: str | None = None,
        max_results: int | None = 50,
        page_token: str | None = None,
    ) -> Page[WebhookDelivery]:
        """Webhook deliveries, newest first.

        Args:
            deployment: only this deployment's.
            status: only ``pending``, ``delivered`` or ``failed`` ones.
            event: only this event's (e.g. ``ping``).
            max_results: stop after this many (default 50); None fetches them all.
            page_token: continue from an earlier `Page.next_page_token`.

        Raises:
            DeploymentNotFound: no deployment has this name.
        """
        params = {"deployment": deployment, "status": status, "event": event}
        items, token = self._paginate("/webhook-deliveries", "deliveries", params, max_results, page_token)
        return Page([WebhookDelivery.from_json(item) for item in items], token)
