"""Slash commands: /handoff, /dependency and /baton. Each acks at once; the rest runs after."""

from __future__ import annotations

import json
import re
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError

from bot.domain.grammar import KEYS, missing_required, parse_fields, read_user
from bot.domain.records import DomainError, RecordKind, read_category, read_risk
from bot.domain.rota import read_weekdays
from bot.domain.times import TimeReadError, read_report_day, read_time
from bot.report import write_report
from bot.runtime import Baton
from bot.slack.blocks import pages, partner_trends
from bot.slack.blocks import records as blocks
from bot.slack.blocks import roster as roster_blocks
from bot.slack.cards import Cards, Replies
from bot.slack.ids import ActionId
from bot.web.inbox import redoing
from handlers.common import BUTTON_VALUE_LIMIT, guarded, open_form, unescape

USAGE = {
    "show": "`/baton show H-3`",
    "ack": "`/baton ack H-3`",
    "respond": "`/baton respond H-3 accept|condition|clarify|decline TEXT`",
    "resolve": "`/baton resolve D-2 OUTCOME`",
    "cancel": "`/baton cancel H-3 REASON`",
}


# Why files.completeUploadExternal refused the channel, as the requester is told.
_NOT_IN = ("Baton isn't in {channel}, so the report went to you by direct message. To share "
           "it here: `/invite @Baton`.")
_UNSHAREABLE = {
    "not_in_channel": _NOT_IN,  # public, not joined (chat:write.public is for messages only)
    "channel_not_found": _NOT_IN,  # private, not joined: it does not exist for Baton
    "is_archived": "{channel} is archived, so the report went to you by direct message.",
}


def register(app: App, baton: Baton) -> None:
    cards = Cards(baton.client, baton.records)
    replies = Replies(baton.client)

    def create(kind: RecordKind, body: dict[str, Any]) -> None:
        user, channel, team = body["user_id"], body["channel_id"], body["team_id"]
        response_url = body.get("response_url")
        what = f"log the {kind.value}"

        @guarded(replies, user=user, channel=channel, response_url=response_url, what=what)
        def work() -> None:
            text = unescape(body.get("text") or "").strip()
            if text.lower() in ("help", "?"):
                replies.send(user=user, channel=channel, response_url=response_url,
                             text=blocks.help_text())
                return
            fields = parse_fields(text, kind)
            missing = missing_required(fields, kind)
            if missing:
                # The trigger_id expires 3 s after the command: open the modal first. Too
                # late (a slow moment, a request redone after a restart), the person gets a
                # button that opens it, carrying what they typed.
                value, cut = draft_value(kind, channel, fields)
                open_form(baton.client, replies, trigger_id=body["trigger_id"],
                          view=_prefilled(kind, fields, user, channel, missing), user=user,
                          channel=channel, response_url=response_url,
                          again=(ActionId.OPEN_FORM, value), kept=_kept(cut))
                return
            change = baton.create_record(kind, fields, team=team, channel=channel, user=user,
                                         request_key=body.get("trigger_id"))
            if not change.created and (change.record.card_ts or not redoing()):
                return  # a retry of a request already handled (or being handled)
            # New, or made by an attempt that died before saving its card's ts (a saved
            # request redone after a crash, bot/web/inbox.py): the card and the reply now. That
            # attempt may have got the card to Slack: then it is adopted, not posted again.
            _publish(cards, replies, change.record, user=user, response_url=response_url,
                     adopt=not change.created)

        baton.defer(work)

    def reopen(body: dict[str, Any], ack: Ack) -> None:
        """"Open the form" on the note a late trigger_id left: the click brings a fresh one."""
        ack()
        user = body["user"]["id"]
        value = body["actions"][0].get("value") or ""
        response_url = body.get("response_url")

        @guarded(replies, user=user, channel=(body.get("channel") or {}).get("id"),
                 response_url=response_url, what="open the form")
        def work() -> None:
            kind, channel, fields = read_draft(value)
            open_form(baton.client, replies, trigger_id=body["trigger_id"],
                      view=_prefilled(kind, fields, user, channel,
                                      missing_required(fields, kind)),
                      user=user, channel=channel, response_url=response_url,
                      again=(ActionId.OPEN_FORM, value), kept=" with what you typed")

        baton.defer(work)

    def handoff(body: dict[str, Any], ack: Ack) -> None:
        ack()
        create(RecordKind.HANDOFF, body)

    def dependency(body: dict[str, Any], ack: Ack) -> None:
        ack()
        create(RecordKind.DEPENDENCY, body)

    def baton_command(body: dict[str, Any], ack: Ack) -> None:
        ack()
        user, channel, team = body["user_id"], body["channel_id"], body["team_id"]
        response_url = body.get("response_url")
        text = unescape(body.get("text") or "").strip()
        sub, _, rest = text.partition(" ")
        sub = sub.lower()

        def say(message: str, block_list: list[Any] | None = None) -> None:
            replies.send(user=user, channel=channel, response_url=response_url, text=message,
                         block_list=block_list)

        @guarded(replies, user=user, channel=channel, response_url=response_url)
        def work() -> None:
            if sub in ("", "help"):
                say(blocks.help_text())
            elif sub == "list":
                records = baton.records.open_in_channel(team_id=team, channel_id=channel)
                say(f"{len(records)} open records in this channel",
                    blocks.record_list("Open records in this channel, soonest deadline first",
                                       records, "Nothing open here. :tada:"))
            elif sub == "mine":
                records = baton.records.open_for_user(team_id=team, user_id=user)
                say(f"{len(records)} open records are yours",
                    blocks.record_list("Your open records, soonest deadline first", records,
                                       "Nothing open is yours."))
            elif sub == "ladder":
                _ladder(rest.strip())
            elif sub == "partner":
                say(f"Partner figures: {blocks.escape(rest.strip()[:80])}",
                    partner_trends.partner_page(
                        baton.governance.partner_figures(team, rest.strip())))
            elif sub == "report":
                _report(rest.strip())
            elif sub == "coordinator":
                _coordinator(rest.strip())
            elif sub == "huddle":
                total = baton.coordination.post_huddle(team_id=team, channel_id=channel,
                                                       actor=user)
                if total == 0:
                    say("Nothing is open in this channel; the roster I posted is empty.")
            elif sub in ("show", "ack", "respond", "resolve", "close", "cancel"):
                _record_command(sub, rest.strip())
            else:
                say(f":warning: I don't know `/baton {blocks.escape(sub[:40])}`. "
                    "Try `/baton help`.")

        def _ladder(rest: str) -> None:
            ladders = baton.settings.ladders
            word, _, name = rest.partition(" ")
            if word.lower() in ("use", "set"):
                baton.escalation.set_channel_ladder(team_id=team, channel_id=channel,
                                                    name=name.strip(), actor=user,
                                                    known=list(ladders.ladders))
            elif word.lower() == "reset":
                baton.escalation.set_channel_ladder(team_id=team, channel_id=channel,
                                                    name=None, actor=user,
                                                    known=list(ladders.ladders))
            elif word:
                raise DomainError("Try `/baton ladder`, `/baton ladder use NAME` or "
                                  "`/baton ladder reset`.")
            chosen = baton.escalation.channel_ladder(team_id=team, channel_id=channel)
            say("This channel's escalation ladder", pages.ladder_blocks(
                ladders, chosen=chosen))

        def _report(rest: str) -> None:
            """The evidence report for this channel (default: the last 30 days), uploaded
            here with files.upload v2; where Baton can't share files (not a member, or
            archived), to the requester by DM, with one sentence saying why."""
            tz = baton.rota.tz
            now = baton.clock.now()
            if rest:
                m = re.fullmatch(r"from\s+(.+?)\s+to\s+(.+)", rest, re.IGNORECASE)
                if not m:
                    raise DomainError("Try `/baton report` (the last 30 days) or "
                                      "`/baton report from 2026-11-01 to 2026-11-30`.")
                today = now.astimezone(tz).date()
                try:
                    first, last = (read_report_day(m.group(i), today=today) for i in (1, 2))
                except ValueError as exc:
                    raise DomainError(str(exc)) from None
            else:
                last = now.astimezone(tz).date()
                first = last - timedelta(days=29)
            if last < first:
                raise DomainError(f"The report ends ({last}) before it starts ({first}).")
            start = datetime.combine(first, datetime.min.time(), tzinfo=tz).astimezone(UTC)
            end = datetime.combine(last + timedelta(days=1), datetime.min.time(),
                                   tzinfo=tz).astimezone(UTC)
            with tempfile.TemporaryDirectory(prefix="baton-report-") as out:
                summary = write_report(baton.sessions, team_id=team, start=start, end=end,
                                       channel_id=channel, out_dir=Path(out), now=now, tz=tz)

                def upload(to: str) -> None:
                    baton.client.files_upload_v2(
                        channel=to,
                        initial_comment=f"Evidence report for <#{channel}>, {first} to "
                                        f"{last}, requested by <@{user}>.\n"
                                        + summary.headline_text(title=False),
                        file_uploads=[{"file": str(p), "filename": p.name, "title": p.name}
                                      for p in summary.paths])

                delivered = "channel"
                try:
                    upload(channel)
                except SlackApiError as exc:
                    why = _UNSHAREABLE.get(str(exc.response.get("error")))
                    if why is None:
                        raise
                    # Files are shared only where Baton is a member, and never in an
                    # archived channel: the requester gets them by DM instead.
                    dm = baton.client.conversations_open(users=user)["channel"]["id"]
                    upload(dm)
                    delivered = "direct message"
                    say(why.format(channel=f"<#{channel}>"))
            baton.coordination.note(team_id=team, actor=user, kind="report_uploaded",
                                    field=channel, after={
                                        "from": first.isoformat(), "to": last.isoformat(),
                                        "rows": dict(summary.row_counts),
                                        "delivered": delivered})

        def _coordinator(rest: str) -> None:
            coordination = baton.coordination
            if not rest:
                say(roster_blocks.rota_week(coordination.describe(team_id=team)))
                return
            words = rest.split()
            if words[0].lower() == "cover":
                say(_cover(words[1:]))
                return
            who = read_user(words[0], caller=user, field="coordinator")
            tail = " ".join(words[1:])
            if not tail or tail.lower() == "today":
                today = baton.clock.now().astimezone(baton.rota.tz).date()
                say(roster_blocks.rota_set_line(coordination.set_day(
                    team_id=team, actor=user, user_id=who, day=today)))
            else:
                say(roster_blocks.rota_set_line(coordination.set_weekly(
                    team_id=team, actor=user, user_id=who, days=read_weekdays(tail))))

        def _cover(words: list[str]) -> str:
            usage = "`/baton coordinator cover @someone from DATE to DATE`"
            text = " ".join(words)
            m = re.fullmatch(r"(\S+)\s+from\s+(.+?)\s+(?:to|until|till)\s+(.+)", text,
                             re.IGNORECASE)
            if not m:
                raise DomainError(f"Say who covers and when: {usage}.")
            who = read_user(m.group(1), caller=user, field="coordinator")
            start, end = (_read_date(m.group(i)) for i in (2, 3))
            return roster_blocks.rota_set_line(baton.coordination.set_cover(
                team_id=team, actor=user, user_id=who, start=start, end=end))

        def _read_date(text: str) -> date:
            """A day for the rota: today, tomorrow, friday, 2026-12-01 ..."""
            tz = baton.rota.tz
            now = baton.clock.now()
            if text.strip().lower() == "today":
                return now.astimezone(tz).date()
            try:
                when = read_time(text, now=now, tz=tz, calendar=baton.calendar)
            except TimeReadError as exc:
                if exc.reason == TimeReadError.PAST:  # today's date, typed: still today
                    day = now.astimezone(tz).date()
                    if text.strip() in (day.isoformat(), f"{day:%Y-%m-%d}"):
                        return day
                raise DomainError(str(exc)) from None
            return when.astimezone(tz).date()

        def _record_command(sub: str, rest: str) -> None:
            parts = rest.split(maxsplit=1)
            if not parts:
                raise DomainError(f"Which record? {USAGE['resolve' if sub == 'close' else sub]}")
            ref, tail = parts[0], (parts[1] if len(parts) > 1 else "")
            if sub == "show":
                record, events = baton.records.history(team_id=team, ref=ref)
                say(f"{record.reference}: {record.status}", blocks.record_detail(record, events))
                return
            if sub == "ack":
                change = baton.records.acknowledge(team_id=team, ref=ref, actor=user)
            elif sub == "respond":
                word, _, answer = tail.partition(" ")
                if not word:
                    raise DomainError(f"Give the response category. {USAGE['respond']}")
                change = baton.records.respond(team_id=team, ref=ref, actor=user,
                                               category=read_category(word), text=answer)
            elif sub in ("resolve", "close"):
                change = baton.records.resolve(team_id=team, ref=ref, actor=user, outcome=tail)
            else:
                change = baton.records.cancel(team_id=team, ref=ref, actor=user, reason=tail)
            cards.changed(change)
            say(f":white_check_mark: {change.record.reference}: {blocks.change_line(change)}")

        baton.defer(work)

    def _prefilled(kind: RecordKind, fields: dict[str, str], user: str, channel: str,
                   missing: list[str]) -> Any:
        owner = _user_or_none(fields.get("owner", ""), user)
        manager = _user_or_none(fields.get("manager", ""), user) if fields.get("manager") else None
        try:
            risk = read_risk(fields["risk"]) if fields.get("risk") else None
        except DomainError:
            risk = None
        return blocks.create_modal(kind, fields, owner=owner, manager=manager, risk=risk,
                                   channel_id=channel, missing=missing).to_dict()

    app.command("/handoff")(handoff)
    app.command("/dependency")(dependency)
    app.command("/baton")(baton_command)
    app.action(ActionId.OPEN_FORM)(reopen)


_CHANNEL_ID = re.compile(r"[CDG][A-Z0-9]{2,31}")


def draft_value(kind: RecordKind, channel: str, fields: dict[str, str]) -> tuple[str, list[str]]:
    """An "Open the form" button's value: the record kind, the channel and the fields typed,
    as compact JSON within Slack's 2,000 characters. When they don't all fit, the longest
    fields are shortened (ending in "…") until they do; their names come back with it."""
    kept = dict(fields)
    cut: list[str] = []

    def encode() -> str:
        return json.dumps({"k": kind.value, "c": channel, "f": kept}, separators=(",", ":"),
                          ensure_ascii=False)

    value = encode()
    while len(value) > BUTTON_VALUE_LIMIT:
        name = max(kept, key=lambda k: len(kept[k]))
        keep = max(len(kept[name]) - (len(value) - BUTTON_VALUE_LIMIT) - 1, 0)
        kept[name] = kept[name][:keep] + "…" if keep else ""
        if name not in cut:
            cut.append(name)
        value = encode()
    return value, cut


def _kept(cut: list[str]) -> str:
    if not cut:
        return " with what you typed"
    names = ", ".join(f"`{name}`" for name in cut)
    return (f" with what you typed ({names} {'was' if len(cut) == 1 else 'were'} too long to "
            "carry over in full: check the end in the form)")


def read_draft(value: str) -> tuple[RecordKind, str, dict[str, str]]:
    """What draft_value wrote, checked; a DomainError if the button lost it."""
    lost = DomainError("That button has lost what you typed; run the command again.")
    try:
        data = json.loads(value)
        kind = RecordKind(data["k"])
        channel, fields = data["c"], data["f"]
    except (ValueError, TypeError, KeyError, RecursionError):
        raise lost from None
    names = {key.name for key in KEYS[kind]}
    if not (isinstance(channel, str) and _CHANNEL_ID.fullmatch(channel)
            and isinstance(fields, dict)
            and all(k in names and isinstance(v, str) for k, v in fields.items())):
        raise lost
    return kind, channel, fields


def _user_or_none(text: str, caller: str) -> str | None:
    try:
        return read_user(text, caller=caller, field="owner")
    except DomainError:
        return None


def _publish(cards: Cards, replies: Replies, record: Any, *, user: str,
             response_url: str | None, adopt: bool = False) -> None:
    try:
        cards.post(record, adopt=adopt)
        text = blocks.confirmation(record)
    except SlackApiError as exc:
        text = (f"{blocks.confirmation(record)}\n"
                + pages.card_unpostable_note(str(exc.response.get("error") or ""),
                                             needed=exc.response.get("needed")))
    replies.send(user=user, channel=record.channel_id, response_url=response_url, text=text)

