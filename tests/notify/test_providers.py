"""Each provider's body, posted to a local receiver, checked against the service's documented shape."""

from __future__ import annotations

import json

import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from slack_sdk.models.blocks import Block, HeaderBlock, SectionBlock

from canary.notify import cloudevent, discord
from canary.notify.base import Reply
from canary.notify.cloudevent import CloudEventsProvider
from canary.notify.delivery import PROVIDERS
from canary.notify.discord import DiscordProvider
from canary.notify.googlechat import GoogleChatProvider
from canary.notify.message import Message
from canary.notify.msteams import TeamsProvider
from canary.notify.slack import SlackProvider
from tests.notify.conftest import NEW_IMAGE, OLD_IMAGE, destination, rollback_message
from tests.notify.receivers import Answer, receiver


def send(  # type: ignore[no-untyped-def]
    provider: object,
    message: Message,
    kind: str,
    path: str = "/hook",
    answer: bytes = b"ok",
    **options: object,
):
    with receiver(Answer(200, answer)) as rx:
        target = destination(kind, rx.url(path), **options)
        outgoing = provider.render(message, target)  # type: ignore[attr-defined]
        reply = provider.send(outgoing, target)  # type: ignore[attr-defined]
    assert isinstance(reply, Reply)
    assert reply.ok
    assert len(rx.requests) == 1
    return rx.requests[0]


def test_every_provider_type_of_the_api_has_a_module() -> None:
    from canary.api.alert_provider import AlertProviderType

    assert set(PROVIDERS) == {str(t) for t in AlertProviderType}


def test_slack_webhook_posts_block_kit_that_slack_sdk_parses_back() -> None:
    request = send(SlackProvider(), rollback_message(), "slack")
    body = request.json()
    assert body["text"].startswith("Rolled back: checkout.shop")  # the fallback is always sent
    blocks = [Block.parse(b) for b in body["blocks"]]
    assert all(b is not None for b in blocks)
    assert isinstance(blocks[0], HeaderBlock)
    sections = [b for b in blocks if isinstance(b, SectionBlock) and b.fields]
    fields = "\n".join(f.text for s in sections for f in s.fields)  # type: ignore[union-attr]
    for fact in ("prod-eu-1", "shop/checkout", NEW_IMAGE, OLD_IMAGE, "Step*\n2 of 5"):
        assert fact in fields
    assert "request-success-rate = 94.73 (&gt;= 99)" in fields
    assert "97 of 1840 canary requests failed" in fields
    for block in blocks:
        block.to_dict()  # slack_sdk's validators: lengths and counts within Slack's limits


def test_slack_limits_hold_for_a_huge_message() -> None:
    message = rollback_message().with_extra({f"k{i}": "x" * 5000 for i in range(25)})
    body = SlackProvider().render(message, destination("slack", "http://127.0.0.1/x")).body
    blocks = [Block.parse(b) for b in body["blocks"]]  # type: ignore[union-attr]
    assert len(blocks) <= 50
    for block in blocks:
        assert block is not None
        block.to_dict()


def test_slack_bot_token_uses_chat_post_message_with_the_channel() -> None:
    request = send(
        SlackProvider(),
        rollback_message(),
        "slack",
        path="/api/",
        answer=b'{"ok": true, "channel": "C123", "ts": "1.2"}',
        token="xoxb-test-token",
        channel="C123",
    )
    assert request.path == "/api/chat.postMessage"
    assert request.headers["authorization"] == "Bearer xoxb-test-token"
    form = request.body.decode()
    assert "C123" in form


def test_teams_posts_an_adaptive_card_in_the_message_envelope() -> None:
    body = send(TeamsProvider(), rollback_message(), "msteams").json()
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    # The schema's required properties of AdaptiveCard: type and version; body is what shows.
    assert card["type"] == "AdaptiveCard"
    assert card["version"] == "1.4"
    assert {element["type"] for element in card["body"]} <= {"TextBlock", "FactSet"}
    facts = {
        f["title"]: f["value"] for e in card["body"] if e["type"] == "FactSet" for f in e["facts"]
    }
    assert facts["Cluster"] == "prod-eu-1"
    assert facts["Blast radius"] == "97 of 1840 canary requests failed"
    assert card["body"][0]["color"] == "Attention"


def test_teams_legacy_connector_gets_a_message_card() -> None:
    body = send(TeamsProvider(), rollback_message(), "msteams", format="message-card").json()
    assert body["@type"] == "MessageCard"
    assert body["themeColor"] == "E01E5A"
    assert {"name": "Cluster", "value": "prod-eu-1"} in body["sections"][0]["facts"]


def test_discord_posts_one_embed_with_an_integer_colour_within_the_limits() -> None:
    message = rollback_message().with_extra({f"field {i}": "y" * 2000 for i in range(40)})
    body = send(DiscordProvider(), message, "discord").json()
    (embed,) = body["embeds"]
    assert isinstance(embed["color"], int)
    assert len(embed["title"]) <= discord.TITLE_MAX
    assert len(embed["fields"]) <= discord.FIELDS_MAX
    assert all(len(f["value"]) <= discord.FIELD_VALUE_MAX for f in embed["fields"])
    total = len(embed["title"]) + len(embed["description"]) + len(embed["footer"]["text"])
    total += sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    assert total <= discord.TOTAL_MAX
    assert body["allowed_mentions"] == {"parse": []}  # a workload name never pings anyone


def test_google_chat_posts_cards_v2_threaded_per_revision() -> None:
    request = send(
        GoogleChatProvider(), rollback_message(), "googlechat", path="/v1/spaces/AAA/messages"
    )
    assert request.query["messageReplyOption"] == ["REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"]
    body = request.json()
    assert body["text"]
    (entry,) = body["cardsV2"]
    assert entry["cardId"]
    assert entry["card"]["header"]["title"].startswith("Rolled back")
    widgets = entry["card"]["sections"][0]["widgets"]
    labels = {w["decoratedText"]["topLabel"] for w in widgets if "decoratedText" in w}
    assert {"Cluster", "Failing metric", "Blast radius"} <= labels
    assert body["thread"]["threadKey"] == "shop/checkout/7d9c5f"


def test_webhook_posts_a_structured_cloudevent_the_sdk_parses_back() -> None:
    request = send(CloudEventsProvider(), rollback_message(), "webhook")
    assert request.headers["content-type"].startswith("application/cloudevents+json")
    event = from_http_event(HTTPMessage(headers=request.headers, body=request.body))
    attributes = event.get_attributes()
    assert attributes["specversion"] == "1.0"
    assert attributes["type"] == "dev.canary.rollout.rolledback"
    assert attributes["source"] == "/apis/canary.dev/v1alpha1/namespaces/shop/canaries/checkout"
    assert attributes["subject"] == "shop/checkout"
    assert attributes["id"]
    assert attributes["time"]
    data = event.get_data()
    assert isinstance(data, dict)
    assert data["cluster"] == "prod-eu-1"
    assert data["blastRadius"] == {"requests": 1840, "failures": 97}
    assert data["failingMetric"]["name"] == "request-success-rate"  # type: ignore[index]
    assert data["facts"]["New image"] == NEW_IMAGE  # type: ignore[index]


def test_cloudevent_id_stays_the_same_across_retries_of_one_render() -> None:
    outgoing = CloudEventsProvider().render(rollback_message(), destination("webhook", "http://x"))
    assert outgoing.raw is not None
    assert json.loads(outgoing.raw)["id"] == outgoing.body["id"]
    assert cloudevent.TYPE_PREFIX == "dev.canary.rollout."


@pytest.mark.parametrize("kind", ["slack", "googlechat"])
def test_markup_in_a_field_is_escaped_where_the_service_reads_markup(kind: str) -> None:
    message = rollback_message()
    message = message.with_extra({"runbook": "<!channel> & <b>x</b>"})
    body = json.dumps(PROVIDERS[kind].render(message, destination(kind, "http://x")).body)
    assert "<!channel>" not in body
