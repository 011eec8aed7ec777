"""Invariants over any text: every rendered body stays within its service's documented limits."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from canary.notify import discord
from canary.notify.delivery import PROVIDERS
from canary.notify.slack import SlackProvider
from tests.notify.conftest import destination, rollback_message

texts = st.text(min_size=0, max_size=6000)
extras = st.dictionaries(st.text(min_size=1, max_size=300), texts, max_size=30)


@settings(max_examples=60, deadline=None)
@given(text=texts, extra=extras)
def test_slack_blocks_always_pass_slack_sdks_validators(text: str, extra: dict[str, str]) -> None:
    message = rollback_message().with_extra(extra)
    message = type(message)(**{**message.__dict__, "text": text, "title": text or "t"})
    body = SlackProvider().render(message, destination("slack", "http://x")).body
    blocks = body["blocks"]
    assert isinstance(blocks, list)
    assert len(blocks) <= 50
    for raw in blocks:
        block = Block.parse(raw)
        assert block is not None
        block.to_dict()  # raises SlackObjectFormationError past a limit


@settings(max_examples=60, deadline=None)
@given(text=texts, extra=extras)
def test_discord_embed_total_never_exceeds_6000(text: str, extra: dict[str, str]) -> None:
    message = rollback_message().with_extra(extra)
    message = type(message)(**{**message.__dict__, "text": text})
    embed = discord.embed(message)
    fields = embed["fields"]
    assert isinstance(fields, list)
    total = len(str(embed["title"])) + len(str(embed["description"]))
    total += len(embed["footer"]["text"])  # type: ignore[index]
    total += sum(len(f["name"]) + len(f["value"]) for f in fields)
    assert total <= discord.TOTAL_MAX
    assert len(fields) <= discord.FIELDS_MAX


@settings(max_examples=30, deadline=None)
@given(text=texts)
def test_every_provider_renders_json_for_any_text(text: str) -> None:
    message = rollback_message()
    message = type(message)(**{**message.__dict__, "text": text})
    for kind, provider in PROVIDERS.items():
        json.dumps(provider.render(message, destination(kind, "http://x")).body)
