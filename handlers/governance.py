"""The systemic-pattern notice's classification control: the two buttons open the modal
(prefilled with the button's choice); its submission records the accountable director's
classification, corrective route, executive owner and review deadline."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App, BoltContext

from bot.domain.records import DomainError
from bot.services.guard import NeedsConfirmation
from bot.slack.blocks import partner_trends as render
from bot.slack.blocks.guard import confirmed_in_form, form_with_warning
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
from handlers.common import field_error, guarded, open_form
from handlers.context import services, slack

log = logging.getLogger("baton.handlers")


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


def open_classify(ack: Ack, context: BoltContext) -> None:
    ack()
    s, req = services(context), slack(context)
    replies = Replies(s.client)
    chosen = (Classification.SYSTEMIC if req.action_id == GovernanceAction.SYSTEMIC
              else Classification.CASE_LEVEL)
    pattern_id = req.button_ref or -1

    @guarded(replies, user=req.user_id, channel=req.channel_id, response_url=req.response_url,
             what="classify the pattern")
    def work() -> None:
        pattern = s.governance.classifiable(pattern_id, team_id=req.team_id, actor=req.user_id)
        open_form(s.client, replies, trigger_id=req.trigger_id or "",
                  view=render.classify_modal(pattern, chosen=chosen).to_dict(),
                  user=req.user_id, channel=req.channel_id, response_url=req.response_url,
                  again=(req.action_id or "", req.action_value or ""))

    s.defer(work)


def submit(ack: Ack, context: BoltContext) -> None:
    s, req = services(context), slack(context)
    values, user = req.form, req.user_id
    pattern_id = req.form_ref("pattern")
    try:
        if pattern_id is None:
            raise DomainError("This form lost its notice; press the button again.",
                              field=FIELD_CLASSIFICATION)
        review = review_deadline(values.get(FIELD_REVIEW_DUE, ""), tz=s.directory.tz(user),
                                 end_of_day=s.settings.end_of_day)
        found = s.guard.check(req.team_id,
                              {"contract_impact": values.get(FIELD_CONTRACT_IMPACT)},
                              confirmed=confirmed_in_form(values))
        pattern = s.governance.classify(
            pattern_id, actor=user, team_id=req.team_id,
            classification=values.get(FIELD_CLASSIFICATION, ""),
            corrective_route=values.get(FIELD_CORRECTIVE_ROUTE) or None,
            owner_id=values.get(FIELD_OWNER) or None, review_due=review,
            contract_impact=values.get(FIELD_CONTRACT_IMPACT) or None,
            update_message=False, overridden=sorted(found.names))
    except NeedsConfirmation as exc:
        log.info("asked %s in the classification form: %s", user, exc.findings.describe())
        ack(response_action="update", view=form_with_warning(req.view, values, exc.findings))
        return
    except DomainError as exc:
        block = exc.field if exc.field in values else next(iter(values), FIELD_CLASSIFICATION)
        ack(response_action="errors", errors={block: field_error(str(exc))})
        return
    ack()
    # The notice is edited after Slack has its answer: chat.update may wait on Slack.
    s.defer(s.governance.refresh_notice, pattern.id)


def register(app: App) -> None:
    for action_id in GovernanceAction:
        app.action(action_id)(open_classify)
    app.view(GovernanceView.CLASSIFY)(submit)
