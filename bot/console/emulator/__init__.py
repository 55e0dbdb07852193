"""A loopback Slack Web API emulator that speaks Slack's real wire protocol.

An unmodified ``slack_sdk.WebClient(token=..., base_url=emulator.base_url)`` works against
it: requests are POSTed to ``/api/<method>`` as form or JSON bodies with a Bearer token, and
answers are ``200`` JSON bodies shaped like Slack's (``{"ok": false, "error": ...}`` for API
errors).  It keeps just enough state (messages, threads, views, users, files) that the bot's
read-modify-write flows (post then update, open then update a modal) behave as in Slack.

It is runtime code, not only a test fake: ``baton console`` runs the bot against it offline
and prints every call through :meth:`SlackEmulator.on_call`.  Stdlib only on purpose, so the
console mode needs no extra dependencies.

The package, by concern (SlackEmulator, here, is the one class callers use):

- state.py: the workspace (users, user groups, channels, DMs, messages, files, views,
  issued trigger_ids and response_urls) and the lock that guards all of the emulator's state
- protocol.py: request decoding (Args, Headers, form/JSON/multipart bodies) and error bodies
- server.py: the loopback HTTP server and the path of a request (lifecycle, URLs)
- calls.py: the recorded calls (Call), wait_for, on_call observers
- faults.py: LENIENCIES, injected failures and latency, the posting rate limit
- oauth.py: the tokens that work: the bot token, oauth.v2.access installs, revocations
- scopes.py: METHOD_SCOPES, manifest.yml's bot scopes, missing_scope
- blockkit.py: Slack's Block Kit limits (block_kit_problem)
- methods/: the Web API methods by family (auth, users, chat, conversations, views, files)
- socket_mode.py: Slack's Socket Mode, the server side

Each concern is a mixin over state.Workspace, and SlackEmulator inherits them all, because
every method family reads and writes the one workspace under the one lock, and callers
(tests, benches, the console) reach the emulator's attributes directly, a few of them private
(``_cond``, ``_store_message``): one object keeps that API exactly, where method-table
objects holding a reference to the state would need forwarding for each attribute.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.console.emulator.blockkit import block_kit_problem
from bot.console.emulator.calls import Call
from bot.console.emulator.faults import BENCH_LENIENCIES, LENIENCIES, POST_BURST, POST_RATE
from bot.console.emulator.methods.auth import AuthMethods
from bot.console.emulator.methods.chat import ChatMethods
from bot.console.emulator.methods.conversations import ConversationMethods
from bot.console.emulator.methods.files import FileMethods
from bot.console.emulator.methods.users import UserMethods
from bot.console.emulator.methods.views import ViewMethods
from bot.console.emulator.scopes import MANIFEST, METHOD_SCOPES, manifest_bot_scopes
from bot.console.emulator.server import HttpFront
from bot.console.emulator.state import (
    EMULATED_HOST,
    RESPONSE_URL_LIFETIME,
    RESPONSE_URL_USES,
    TRIGGER_LIFETIME,
)

__all__ = [
    "BENCH_LENIENCIES", "EMULATED_HOST", "LENIENCIES", "MANIFEST", "METHOD_SCOPES",
    "POST_BURST", "POST_RATE", "RESPONSE_URL_LIFETIME", "RESPONSE_URL_USES",
    "TRIGGER_LIFETIME", "Call", "SlackEmulator", "block_kit_problem", "manifest_bot_scopes",
]


class SlackEmulator(HttpFront, AuthMethods, UserMethods, ChatMethods, ConversationMethods,
                    ViewMethods, FileMethods):
    """Slack Web API emulator on 127.0.0.1 (ephemeral port), served from a daemon thread."""

    def __init__(
        self,
        *,
        team_id: str = "T0BATON",
        bot_user_id: str = "UBATON",
        bot_id: str = "BBATON",
        token: str | None = None,
        lenient: Iterable[str] = (),
        scopes: Iterable[str] | None = None,
    ) -> None:
        """``lenient``: the conveniences Slack does not offer that a test asks for by name
        (LENIENCIES). ``scopes``: the bot token's scopes; by default manifest.yml's."""
        unknown = set(lenient) - LENIENCIES
        if unknown:
            raise ValueError(f"unknown leniencies {sorted(unknown)}; known: {sorted(LENIENCIES)}")
        granted = frozenset(scopes) if scopes is not None else manifest_bot_scopes()
        super().__init__(team_id=team_id, bot_user_id=bot_user_id, bot_id=bot_id,
                         token=token, lenient=frozenset(lenient), scopes=granted)
        self._methods = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "users.info": self._users_info,
            "users.list": self._users_list,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "usergroups.list": self._usergroups_list,
            "usergroups.users.list": self._usergroups_users_list,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
        }
