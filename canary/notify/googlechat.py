"""Google Chat: a cardsV2 message, threaded per rollout revision."""

from __future__ import annotations

from html import escape

import httpx

from canary.notify.base import Destination, HttpProvider, Outgoing, Reply, http_post
from canary.notify.message import Message

COLOURS = {"info": "#2EB67D", "warn": "#ECB22E", "error": "#E01E5A"}


def card(message: Message) -> dict[str, object]:
    """cardsV2 entry: a header, the reason, the facts as decoratedText widgets."""
    widgets: list[dict[str, object]] = [
        {
            "textParagraph": {
                "text": f'<font color="{COLOURS.get(message.severity, "#0076D7")}">'
                f"<b>{escape(message.text)}</b></font>"
            }
        }
    ]
    widgets.extend(
        {"decoratedText": {"topLabel": escape(label), "text": escape(value), "wrapText": True}}
        for label, value in message.all_facts()
    )
    return {
        "cardId": f"canary-{message.transition}",
        "card": {
            "header": {"title": message.title, "subtitle": f"cluster {message.cluster}"},
            "sections": [{"collapsible": False, "widgets": widgets}],
        },
    }


class GoogleChatProvider(HttpProvider):
    """POSTs to the space's webhook URL; messages of one revision share a thread."""

    def render(self, message: Message, destination: Destination) -> Outgoing:
        return Outgoing(
            {
                "text": f"{message.title}: {message.text}",
                "cardsV2": [card(message)],
                "thread": {"threadKey": f"{message.subject}/{message.revision}"[:4000]},
            },
            {"Content-Type": "application/json; charset=UTF-8"},
        )

    def send(self, outgoing: Outgoing, destination: Destination) -> Reply:
        # Without this option Chat ignores threadKey and starts a new thread every time.
        url = httpx.URL(destination.address).copy_merge_params(
            {"messageReplyOption": "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"}
        )
        return http_post(str(url), outgoing, destination)
