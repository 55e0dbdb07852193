"""`/baton person P-1042`: everything open for one person, ephemeral (bot/slack/blocks/person.py
renders it). The reference must be a person code: anything else is refused with a sentence
that does not repeat what was typed (it may be a name), so no reply, log line or debug trace
of the reply carries it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.domain.records import DomainError, check_person_ref, example_person_ref
from bot.slack.blocks import person as person_blocks

if TYPE_CHECKING:
    from handlers.commands import Invocation


def person(run: Invocation) -> None:
    s = run.services
    pattern = s.settings.person_ref_pattern
    example = example_person_ref(pattern)
    if not run.rest.strip():
        raise DomainError(f"Say whose picture: `/baton person {example}`.")
    try:
        ref = check_person_ref(run.rest, pattern=pattern)
    except DomainError:
        shape = f"such as `{example}`" if example != "a code" else f"matching `{pattern}`"
        raise DomainError(f"`/baton person` takes one person reference code {shape}, alone: "
                          "never a name. Nothing was looked up.") from None
    picture = s.trackers.person(team_id=run.team, person_ref=ref)
    text, blocks = person_blocks.person_blocks(picture, s.settings.templates, now=s.clock.now())
    run.say(text, blocks)
