"""Discord: one embed with an integer colour, cut to Discord's documented limits."""

from __future__ import annotations

from canary.notify.base import Destination, HttpProvider, Outgoing
from canary.notify.message import Message

COLOURS = {"info": 0x2EB67D, "warn": 0xECB22E, "error": 0xE01E5A}
# developers/resources/message.mdx, "Embed Limits".
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
TOTAL_MAX = 6000


def _cut(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def embed(message: Message) -> dict[str, object]:
    """The embed; fields past the 6000-character total are left out rather than refused."""
    title = _cut(message.title, TITLE_MAX)
    description = _cut(message.text, DESCRIPTION_MAX)
    footer = _cut(f"cluster {message.cluster} · {message.subject}", FOOTER_MAX)
    budget = TOTAL_MAX - len(title) - len(description) - len(footer)
    fields: list[dict[str, object]] = []
    for label, value in message.all_facts()[:FIELDS_MAX]:
        name, text = _cut(label, FIELD_NAME_MAX), _cut(value, FIELD_VALUE_MAX) or "-"
        if len(name) + len(text) > budget:
            break
        budget -= len(name) + len(text)
        fields.append({"name": name, "value": text, "inline": len(text) <= 40})
    return {
        "title": title,
        "description": description,
        "color": COLOURS.get(message.severity, 0x0076D7),
        "timestamp": message.time.isoformat(),
        "fields": fields,
        "footer": {"text": footer},
    }


class DiscordProvider(HttpProvider):
    """POSTs to the webhook URL in the Secret's `address`."""

    def render(self, message: Message, destination: Destination) -> Outgoing:
        return Outgoing(
            {
                "username": destination.username,
                "embeds": [embed(message)],
                "allowed_mentions": {"parse": []},
            }
        )
