"""`/baton person P-1042`: everything open for one person, ephemeral (bot/slack/blocks/person.py
renders it). The reference must be a person code: a name is refused (DomainError, told only
to the person who typed it, never logged)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.domain.records import DomainError, check_person_ref, example_person_ref
from bot.slack.blocks import person as person_blocks

if TYPE_CHECKING:
    from handlers.commands import Invocation


def person(run: Invocation) -> None:
    s = run.services
    pattern = s.settings.person_ref_pattern
    if not run.rest.strip():
        raise DomainError(f"Say whose picture: `/baton person {example_person_ref(pattern)}`.")
    ref = check_person_ref(run.rest, pattern=pattern)
    picture = s.trackers.person(team_id=run.team, person_ref=ref)
    text, blocks = person_blocks.person_blocks(picture, s.settings.templates, now=s.clock.now())
    run.say(text, blocks)
