"""What every listener reads of a request, read once: one Bolt middleware (registered in
bot/app.py's build_app) parses the payload into a frozen pydantic model, `context["slack"]`,
and puts the wired runtime into `context["services"]`, typed as the Services protocol, so
that no listener parses a body by hand or imports the runtime."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, ValidationError
from slack_bolt import BoltContext
from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.domain import slack_ids
from bot.domain.records import RecordKind
from bot.domain.times import WorkingCalendar
from bot.services.coordination import Coordination, RotaCoordinator
from bot.services.escalation import EscalationService
from bot.services.guard import Guard
from bot.services.partner_trends import Governance
from bot.services.records import Change, RecordService
from bot.services.trackers import TrackerService
from bot.settings import Settings
from handlers.common import MalformedPayload, clean_text, row_id

log = logging.getLogger("baton.handlers")

SLACK = "slack"  # context["slack"]: the request, a SlackRequest
SERVICES = "services"  # context["services"]: the runtime, as Services


class Directory(Protocol):
    """Slack users' own time zones (bot/services/directory.py's UserDirectory)."""

    def tz(self, user_id: str) -> ZoneInfo: ...

    def by_handle(self, handle: str) -> str | None: ...


class Suspender(Protocol):
    """The part of the time engine a listener touches: an uninstall keeps work suspended."""

    def keep_suspended(self) -> None: ...


class Services(Protocol):
    """Exactly what the listeners use of the wired runtime (bot/runtime.py's Baton)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def client(self) -> WebClient: ...
    @property
    def sessions(self) -> sessionmaker[Session]: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def records(self) -> RecordService: ...
    @property
    def escalation(self) -> EscalationService: ...
    @property
    def trackers(self) -> TrackerService: ...
    @property
    def coordination(self) -> Coordination: ...
    @property
    def governance(self) -> Governance: ...
    @property
    def rota(self) -> RotaCoordinator: ...
    @property
    def directory(self) -> Directory: ...
    @property
    def calendar(self) -> WorkingCalendar: ...
    @property
    def engine(self) -> Suspender: ...

    def defer(self, fn: Callable[..., None], *args: Any, **kwargs: Any) -> None: ...

    def poke(self, due: datetime | None = None) -> None: ...

    @property
    def guard(self) -> Guard: ...


    def create_record(self, kind: RecordKind, fields: dict[str, str], *, team: str,
                      channel: str, user: str, request_key: str | None,
                      confirmed: Collection[str] = ()) -> Change: ...

    def edit_record(self, ref: str | int, *, team: str, user: str, text: str | None = None,
                    form: dict[str, str] | None = None,
                    opened: dict[str, str] | None = None,
                    confirmed: Collection[str] = ()) -> Change: ...


class SlackRequest(BaseModel):
    """The parts of a Slack request the listeners read. `kind` is "command" for a slash
    command, else the payload's type (block_actions, view_submission, event_callback, …)."""

    model_config = ConfigDict(frozen=True)

    kind: str
    team_id: str = ""
    user_id: str = ""
    channel_id: str | None = None
    response_url: str | None = None  # where to answer (None if it is not a string)
    trigger_id: str | None = None
    text: str = ""  # a slash command's text, as Slack sent it (escaped)
    action_id: str | None = None  # the first action's id, for a button
    action_value: str | None = None
    # A button's value read as a row id: the record, page or pattern it is about (card and
    # notice buttons carry the id as digits); None when it is not one.
    button_ref: int | None = None
    button_data: dict[str, Any] = {}  # a button's value as a JSON object ({} if not one)
    message_ts: Any = None  # the message a button is on (kept as Slack sent it)
    view_id: str | None = None
    callback_id: str | None = None
    metadata: dict[str, Any] = {}  # a view's private_metadata as a JSON object ({} if not)
    form: dict[str, str] = {}  # view.state.values flattened: {block_id: value}
    view: dict[str, Any] = {}  # the submitted view as Slack sent it (to show it again)
    event: dict[str, Any] = {}  # an Events API event

    def form_ref(self, key: str = "record") -> int | None:
        """The row a form is about, as its private_metadata names it under `key` ("record",
        or "pattern" for a systemic-pattern notice); None if it names none."""
        return row_id(self.metadata.get(key))


def _get(body: Any, *path: str) -> Any:
    for key in path:
        body = body.get(key) if isinstance(body, dict) else None
    return body


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _json_object(text: Any) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except (ValueError, TypeError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _button_ref(value: Any) -> int | None:
    try:
        return row_id(int(value if value is not None else ""))  # past INTEGER: no row
    except (TypeError, ValueError):
        return None


def flatten_state(view: Any) -> dict[str, str]:
    """Flatten view.state.values into {block_id: value} whatever the element type; free text
    cleaned as it may be stored (handlers.common.clean_text)."""
    out: dict[str, str] = {}
    values = _get(view, "state", "values")
    for block_id, actions in (values.items() if isinstance(values, dict) else ()):
        for element in (actions.values() if isinstance(actions, dict) else ()):
            if not isinstance(element, dict):
                continue  # not what Slack sends: nothing chosen
            kind = element.get("type")
            if kind == "users_select":
                value = element.get("selected_user")
                if not (isinstance(value, str) and slack_ids.USER_ID.fullmatch(value)):
                    value = None  # Slack sends a user ID; anything else chose nobody
            elif kind in ("static_select", "radio_buttons"):
                option = element.get("selected_option")
                value = option.get("value") if isinstance(option, dict) else None
            elif kind == "checkboxes":
                chosen = element.get("selected_options")
                value = " ".join(o["value"] for o in (chosen if isinstance(chosen, list) else ())
                                 if isinstance(o, dict) and isinstance(o.get("value"), str))
            elif kind == "datepicker":
                value = element.get("selected_date")
            elif kind == "datetimepicker":
                value = element.get("selected_date_time")
            else:
                value = element.get("value")
            out[block_id] = clean_text(value) if isinstance(value, str) else ""
    return out


def read_request(body: dict[str, Any]) -> SlackRequest:
    """The SlackRequest in `body`; MalformedPayload when it can't be read."""
    if not isinstance(body, dict):
        raise MalformedPayload("the body is not a JSON object")
    try:
        if "command" in body:
            return SlackRequest(
                kind="command", team_id=body["team_id"], user_id=body["user_id"],
                channel_id=body["channel_id"], response_url=_text(body.get("response_url")),
                trigger_id=_text(body.get("trigger_id")), text=body.get("text") or "")
        kind = str(body.get("type") or "")
        if kind == "event_callback":
            given = body.get("event")
            event: dict[str, Any] = given if isinstance(given, dict) else {}
            user = event.get("user")
            return SlackRequest(kind=kind, team_id=str(body.get("team_id") or ""),
                                user_id=user if isinstance(user, str) else "", event=event)
        if kind not in ("block_actions", "view_submission", "view_closed"):
            return SlackRequest(kind=kind)  # nothing of Baton's listens to it
        user = _get(body, "user", "id")
        team = _get(body, "team", "id") or _get(body, "user", "team_id") or ""
        fields: dict[str, Any] = {
            "kind": kind, "team_id": team, "user_id": user,
            "channel_id": _get(body, "channel", "id"),
            "response_url": _text(body.get("response_url")),
            "trigger_id": _text(body.get("trigger_id"))}
        if kind == "block_actions":
            action = (body.get("actions") or [{}])[0]
            value = action.get("value")
            chosen = action.get("selected_option")
            if value is None and isinstance(chosen, dict):  # an overflow menu's choice
                value = chosen.get("value")
            fields.update(action_id=action.get("action_id"), action_value=value,
                          button_ref=_button_ref(value), button_data=_json_object(value),
                          message_ts=_get(body, "container", "message_ts"))
        else:
            view = body["view"]
            meta = _json_object(view.get("private_metadata"))
            fields.update(view_id=view.get("id"), callback_id=view.get("callback_id"),
                          metadata=meta, form=flatten_state(view),
                          view=view if isinstance(view, dict) else {})
        return SlackRequest(**fields)
    except (KeyError, IndexError, TypeError, AttributeError, ValidationError) as exc:
        raise MalformedPayload(f"a {body.get('type') or 'command'} request Baton couldn't "
                               f"read ({type(exc).__name__}: {str(exc).splitlines()[0]})"
                               ) from None


def middleware(services: Services) -> Callable[..., None]:
    """The Bolt middleware: the request read once into context["slack"], the runtime put into
    context["services"]."""

    def read_once(body: dict[str, Any], context: BoltContext, next: Callable[[], None]) -> None:
        context[SLACK] = read_request(body)
        context[SERVICES] = services
        next()

    return read_once


def slack(context: BoltContext) -> SlackRequest:
    """The request, as the middleware read it."""
    request: SlackRequest = context[SLACK]
    return request


def services(context: BoltContext) -> Services:
    """The wired runtime, as the middleware put it."""
    wired: Services = context[SERVICES]
    return wired
