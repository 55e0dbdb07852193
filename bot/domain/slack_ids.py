"""The shapes Slack gives its IDs, in one place: a kind letter, then upper-case letters and
digits (the database keeps 32 characters).

Each pattern is anchored with ^ and $, so `fullmatch` and `match` both work on it and each use
keeps its own meaning (`match` lets one trailing newline through, as `$` does; `fullmatch`
does not). They differ on purpose, by what each place may accept:

- USER_ID: a person (U, or W on Enterprise Grid), as Slack sends it in a request.
- TEAM_ID: a workspace (T, or E for an Enterprise Grid organisation).
- CHANNEL_ID: a conversation a request came from: public (C), direct message (D) or
  private (G).
- POSTING_CHANNEL_ID: a channel set in the configuration for Baton to post in: public or
  private, never a direct message (no D).
- MENTIONABLE_ID: what may be rendered as a `<@…>` mention: people and bots (B), of any
  length (the ID was already stored; rendering never refuses one it could show).
- ROLE_MEMBER_ID: a member of a role in the configuration: a person or a user group (S), at
  most 21 characters, as Slack issues them today.
- USER_MENTION / BARE_USER_ID: a person typed into a command: an escaped mention
  `<@U123|name>` (its ID group 1), or a bare ID of at least 7 characters, so that a short word
  such as "US" is not taken for one.
"""

from __future__ import annotations

import re

USER_ID = re.compile(r"^[UW][A-Z0-9]{2,31}$")
TEAM_ID = re.compile(r"^[TE][A-Z0-9]{2,31}$")
CHANNEL_ID = re.compile(r"^[CDG][A-Z0-9]{2,31}$")
POSTING_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,31}$")
MENTIONABLE_ID = re.compile(r"^[UWB][A-Z0-9]{2,}$")
ROLE_MEMBER_ID = re.compile(r"^[UWS][A-Z0-9]{2,20}$")
USER_MENTION = re.compile(r"^<@([UW][A-Z0-9]{1,31})(?:\|[^>]*)?>$")
BARE_USER_ID = re.compile(r"^[UW][A-Z0-9]{6,31}$")

# Not an ID, but Slack's too: a modal's field error longer than this is cut by Slack, so Baton
# clips its own (the one limit every surface uses).
FIELD_ERROR_LIMIT = 150
