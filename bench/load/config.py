"""bench/load's made-up workspace: its team, channels and partners, and the request mix."""

from __future__ import annotations

from pathlib import Path

from bot.domain.ladder import DEFAULT_LADDER

ROOT = Path(__file__).resolve().parents[2]

TEAM = "T0LOAD"
SECRET = "load-secret"
TOKEN = "xoxb-load"
TZ_NAME = "America/New_York"
LADDER = DEFAULT_LADDER.to_json()
CHANNELS = [f"C0LOAD{i:03d}" for i in range(20)]
PARTNERS = 50
BATCH = 10_000
TARGET_P99_MS = 100.0
ANSWER_WAIT = 10.0  # --pace answer: a person gives up waiting for the answer after this

# Request kinds, their share of the traffic, and how they are printed.
MIX = {"handoff": 20, "dependency": 10, "list": 20, "show": 30, "partner_ack": 12,
       "page_ack": 8}
LABEL = {"handoff": "/handoff", "dependency": "/dependency", "list": "/baton list",
         "show": "/baton show REF", "partner_ack": "click Partner acknowledged",
         "page_ack": "click Acknowledge (page)"}
REPLIES = ("handoff", "dependency", "list", "show")  # kinds answered through response_url
