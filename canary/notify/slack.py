"""Slack: Block Kit built with slack_sdk's models, sent by its webhook client or chat.postMessage."""

from __future__ import annotations

import logging
import math
import ssl

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.webhook import WebhookClient

from canary.notify.base import Destination, Outgoing, Reply, retry_after
from canary.notify.message import Message

# slack_sdk logs every request's URL (the webhook URL is the credential) at DEBUG and its retry
# handlers at INFO: its clients get a logger that drops everything, and no retry handlers of
# their own (delivery retries, with Retry-After, in canary.notify.delivery).
QUIET = logging.getLogger("canary.notify.slack_sdk")
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False
QUIET.setLevel(logging.CRITICAL + 1)

ICONS = {"info": ":large_blue_circle:", "warn": ":warning:", "error": ":red_circle:"}
# Slack's limits (docs.slack.dev Block Kit reference; enforced by slack_sdk's validators).
HEADER_MAX = 150
SECTION_MAX = 3000
FIELDS_PER_SECTION = 10
FIELD_MAX = 2000


def escape(text: str) -> str:
    """mrkdwn escaping of user text (Slack: `&`, `<`, `>` only)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def blocks(message: Message) -> list[Block]:
    """Header, the reason, the facts two columns wide, then a context line."""
    facts = [
        MarkdownTextObject(text=_cut(f"*{escape(label)}*\n{escape(value)}", FIELD_MAX))
        for label, value in message.all_facts()
    ]
    result: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=_cut(message.title, HEADER_MAX))),
        SectionBlock(
            text=MarkdownTextObject(
                text=_cut(f"{ICONS.get(message.severity, '')} {escape(message.text)}", SECTION_MAX)
            )
        ),
    ]
    for start in range(0, len(facts), FIELDS_PER_SECTION):
        result.append(SectionBlock(fields=facts[start : start + FIELDS_PER_SECTION]))
    result.append(DividerBlock())
    result.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=escape(
                        f"cluster {message.cluster} · {message.subject} · "
                        f"{message.time.strftime('%Y-%m-%dT%H:%M:%SZ')}"
                    )
                )
            ]
        )
    )
    return result


class SlackProvider:
    """An incoming webhook (Secret key `address`), or a bot token plus `channel`."""

    def render(self, message: Message, destination: Destination) -> Outgoing:
        body: dict[str, object] = {
            # The fallback shown in notifications and read by screen readers.
            "text": _cut(f"{message.title}: {message.text}", 3000),
            "blocks": [block.to_dict() for block in blocks(message)],
        }
        if destination.token:
            body["channel"] = destination.channel
        return Outgoing(body)

    def send(self, outgoing: Outgoing, destination: Destination) -> Reply:
        context = ssl.create_default_context(cafile=destination.ca_bundle)
        timeout = max(1, math.ceil(destination.timeout))
        try:
            if destination.token:
                return self._post_message(outgoing, destination, context, timeout)
            client = WebhookClient(
                destination.address,
                timeout=timeout,
                ssl=context,
                proxy=destination.proxy,
                logger=QUIET,
                retry_handlers=[],
            )
            response = client.send_dict(outgoing.body)
        except Exception as error:
            # urllib's errors can carry the URL, which is the credential: keep only the kind.
            raise ConnectionError(f"{type(error).__name__} posting to Slack") from None
        return Reply(
            response.status_code,
            retry_after(dict(_lower(response.headers))),
            "" if response.status_code < 300 else str(response.body)[:200],
        )

    def _post_message(
        self, outgoing: Outgoing, destination: Destination, context: ssl.SSLContext, timeout: int
    ) -> Reply:
        client = WebClient(
            token=destination.token,
            base_url=destination.address or "https://slack.com/api/",
            timeout=timeout,
            ssl=context,
            proxy=destination.proxy,
            logger=QUIET,
            retry_handlers=[],
        )
        body = outgoing.body
        blocks = body["blocks"]
        assert isinstance(blocks, list)
        try:
            client.chat_postMessage(
                channel=str(body["channel"]), text=str(body["text"]), blocks=blocks
            )
        except SlackApiError as error:
            status = error.response.status_code
            # Slack answers 200 with ok=false for refusals: not worth retrying.
            detail = str(error.response.get("error", "error"))
            return Reply(
                status if status != 200 else 400,
                retry_after(dict(_lower(error.response.headers))),
                detail,
            )
        return Reply(200)


def _lower(headers: object) -> dict[str, str]:
    """slack_sdk gives headers as a dict of str or of lists; first values, lower-case names."""
    result: dict[str, str] = {}
    if isinstance(headers, dict):
        for name, value in headers.items():
            first = value[0] if isinstance(value, list) and value else value
            result[str(name).lower()] = str(first)
    return result
