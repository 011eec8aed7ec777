"""Microsoft Teams: an Adaptive Card 1.4 for a Workflows webhook, or a legacy connector card."""

from __future__ import annotations

from canary.notify.base import Destination, HttpProvider, Outgoing
from canary.notify.message import Message

# Adaptive Card TextBlock colours (adaptivecards.io schema) and MessageCard theme colours.
COLOURS = {"info": "Good", "warn": "Warning", "error": "Attention"}
THEMES = {"info": "2EB67D", "warn": "ECB22E", "error": "E01E5A"}
CARD_VERSION = "1.4"
"""Teams renders up to 1.5; 1.4 is what notifications-engine pins too."""


def adaptive_card(message: Message) -> dict[str, object]:
    """The card: a coloured bold title, the reason, the facts as a FactSet, a context line."""
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "body": [
            {
                "type": "TextBlock",
                "text": message.title,
                "size": "Large",
                "weight": "Bolder",
                "color": COLOURS.get(message.severity, "Default"),
                "wrap": True,
            },
            {"type": "TextBlock", "text": message.text, "wrap": True},
            {
                "type": "FactSet",
                "facts": [{"title": label, "value": value} for label, value in message.all_facts()],
            },
            {
                "type": "TextBlock",
                "text": f"cluster {message.cluster} · {message.subject}",
                "isSubtle": True,
                "size": "Small",
                "wrap": True,
            },
        ],
    }


def message_card(message: Message) -> dict[str, object]:
    """The legacy Office 365 connector card (MessageCard), for connectors still running."""
    return {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "themeColor": THEMES.get(message.severity, "0076D7"),
        "summary": message.title,
        "title": message.title,
        "sections": [
            {
                "activityTitle": message.text,
                "activitySubtitle": f"cluster {message.cluster} · {message.subject}",
                "facts": [{"name": label, "value": value} for label, value in message.all_facts()],
            }
        ],
    }


class TeamsProvider(HttpProvider):
    """`format: adaptive-card` (Workflows, the default) or `message-card` (legacy connector)."""

    def render(self, message: Message, destination: Destination) -> Outgoing:
        if destination.format == "message-card":
            return Outgoing(message_card(message))
        return Outgoing(
            {
                "type": "message",
                "attachments": [
                    {
                        "contentType": "application/vnd.microsoft.card.adaptive",
                        "contentUrl": None,
                        "content": adaptive_card(message),
                    }
                ],
            }
        )
