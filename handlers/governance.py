"""The systemic-pattern notice's classification control: the two buttons open the modal
(prefilled with the button's choice); its submission records the accountable director's
classification, corrective route, executive owner and review deadline."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App

from bot.domain.records import DomainError
from bot.runtime import Baton
from bot.slack.blocks import partner_trends as render
from bot.slack.cards import Replies
from bot.slack.ids import (
    FIELD_CLASSIFICATION,
    FIELD_CONTRACT_IMPACT,
    FIELD_CORRECTIVE_ROUTE,
    FIELD_OWNER,
    FIELD_REVIEW_DUE,
    Classification,
    GovernanceAction,
    GovernanceView,
)
from handlers.common import field_error, guarded, open_form, row_id, state_values

FIELD_ERROR_LIMIT = 150  # Slack truncates longer field errors


def review_deadline(text: str, *, tz: ZoneInfo, end_of_day: time) -> datetime | None:
    """A picked date means the end of that working day in the director's own zone."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise DomainError("Pick the review deadline from the calendar.",
                          field=FIELD_REVIEW_DUE) from None
    return datetime.combine(day, end_of_day, tzinfo=tz).astimezone(UTC)


def register(app: App, baton: Baton) -> None:
    replies = Replies(baton.client)

    def open_classify(body: dict[str, Any], ack: Ack) -> None:
        ack()
        action = body["actions"][0]
        user = body["user"]["id"]
        team = (body.get("team") or {}).get("id") or body["user"].get("team_id", "")
        channel = (body.get("channel") or {}).get("id")
        chosen = (Classification.SYSTEMIC if action["action_id"] == GovernanceAction.SYSTEMIC
                  else Classification.CASE_LEVEL)
        try:
            pattern_id = row_id(int(action.get("value", ""))) or -1
        except ValueError:
            pattern_id = -1

        @guarded(replies, user=user, channel=channel, response_url=body.get("response_url"),
                 what="classify the pattern")
        def work() -> None:
            pattern = baton.governance.classifiable(pattern_id, team_id=team, actor=user)
            open_form(baton.client, replies, trigger_id=body["trigger_id"],
                      view=render.classify_modal(pattern, chosen=chosen).to_dict(), user=user,
                      channel=channel, response_url=body.get("response_url"),
                      again=(action["action_id"], action.get("value") or ""))

        baton.defer(work)

    def submit(body: dict[str, Any], ack: Ack) -> None:
        view = body["view"]
        user = body["user"]["id"]
        team = (body.get("team") or {}).get("id") or body["user"].get("team_id", "")
        values = state_values(view)
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except (ValueError, RecursionError):
            meta = {}
        pattern_id = row_id(meta.get("pattern")) if isinstance(meta, dict) else None
        try:
            if pattern_id is None:
                raise DomainError("This form lost its notice; press the button again.",
                                  field=FIELD_CLASSIFICATION)
            review = review_deadline(values.get(FIELD_REVIEW_DUE, ""),
                                     tz=baton.directory.tz(user),
                                     end_of_day=baton.settings.end_of_day)
            pattern = baton.governance.classify(
                pattern_id, actor=user, team_id=team,
                classification=values.get(FIELD_CLASSIFICATION, ""),
                corrective_route=values.get(FIELD_CORRECTIVE_ROUTE) or None,
                owner_id=values.get(FIELD_OWNER) or None, review_due=review,
                contract_impact=values.get(FIELD_CONTRACT_IMPACT) or None,
                update_message=False)
        except DomainError as exc:
            block = exc.field if exc.field in values else next(iter(values),
                                                               FIELD_CLASSIFICATION)
            ack(response_action="errors",
                errors={block: field_error(str(exc), FIELD_ERROR_LIMIT)})
            return
        ack()
        # The notice is edited after Slack has its answer: chat.update may wait on Slack.
        baton.defer(baton.governance.refresh_notice, pattern.id)

    for action_id in GovernanceAction:
        app.action(action_id)(open_classify)
    app.view(GovernanceView.CLASSIFY)(submit)
