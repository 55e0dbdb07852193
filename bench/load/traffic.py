"""Traffic generation: the clients (one person each, on one keep-alive connection) and the
signed Slack requests they send, on records that exist."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict, deque
from typing import Any

from bench.load.config import ANSWER_WAIT, CHANNELS, MIX, PARTNERS, SECRET, TEAM
from bench.load.database import Seeded
from bench.load.measure import Tally
from bench.load.slack import Emulated
from bot.slack import wire
from bot.slack.ids import ActionId


class Conn:
    """One keep-alive HTTP/1.1 connection on raw asyncio streams: a request is one write of
    prebuilt bytes, the answer is read by Content-Length (or chunks). Nothing else."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def post(self, request: bytes) -> tuple[int, bool]:
        """The status, and whether Baton turned the request away as overloaded."""
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        if b"transfer-encoding: chunked" in lower:
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    while await self.reader.readuntil(b"\r\n") != b"\r\n":
                        pass
                    break
                await self.reader.readexactly(size + 2)
        else:
            at = lower.find(b"content-length:")
            if at < 0:
                raise ValueError("no Content-Length")
            length = int(lower[at + 15:lower.index(b"\r\n", at)])
            if length:
                await self.reader.readexactly(length)
        if b"connection: close" in lower:
            self.close()
        return status, b"x-baton-shed: 1" in lower


def http_request(body: str) -> bytes:
    """The whole request as bytes, signed as Slack signs it (bot/slack/wire.py)."""
    headers = wire.signed_headers(body, SECRET)
    data = body.encode()
    return (f"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: {headers['Content-Type']}\r\n"
            f"X-Slack-Request-Timestamp: {headers['X-Slack-Request-Timestamp']}\r\n"
            f"X-Slack-Signature: {headers['X-Slack-Signature']}\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode() + data


class Traffic:
    """What the clients send: each request a fresh signed body, on records that exist."""

    def __init__(self, seeded: Seeded, slack: Emulated, users: list[str], salt: str,
                 rng: random.Random) -> None:
        self.seeded = seeded
        self.slack = slack
        self.users = users
        self.salt = salt
        self.pending = list(seeded.pending)
        rng.shuffle(self.pending)
        self.pages = list(seeded.pages)
        rng.shuffle(self.pages)
        # Due handoffs to acknowledge at their deadline: (monotonic due, record, channel, owner)
        self.race: deque[tuple[float, int, str, str]] = deque()
        self.raced: list[int] = []
        self.cards: dict[int, tuple[str, str]] = {}  # record id -> its card message
        self._waiting: dict[str, list[asyncio.Future[float]]] = defaultdict(list)

    def expect(self, tokens: list[str]) -> list[asyncio.Future[float]]:
        """Futures that resolve when the emulator reports one of `tokens` (in the loop)."""
        loop = asyncio.get_running_loop()
        futures = []
        for token in tokens:
            f: asyncio.Future[float] = loop.create_future()
            self._waiting[token].append(f)
            futures.append(f)
        return futures

    def answered(self, token: str) -> None:
        for f in self._waiting.pop(token, []):
            if not f.done():
                f.set_result(time.perf_counter())

    def forget(self, tokens: list[str], futures: list[asyncio.Future[float]]) -> None:
        for token, f in zip(tokens, futures, strict=True):
            left = [x for x in self._waiting.get(token, []) if x is not f]
            if left:
                self._waiting[token] = left
            else:
                self._waiting.pop(token, None)

    def request(self, k: int, kind: str, seq: int, rng: random.Random, tag: str
                ) -> tuple[str, bytes, list[str]]:
        """The kind actually sent, the request, and what its person would see come back:
        the reply to its response_url, or for a button the card (or page) edited."""
        user = self.users[k % len(self.users)]
        key = f"{kind}.{k}.{seq}.{int(time.monotonic() * 1000)}"  # the emulator times replies
        common: dict[str, Any] = {"team": TEAM, "trigger_id": f"{self.salt}{tag}.{k}.{seq}",
                  "response_url": self.slack.response_base + key}
        if (kind == "partner_ack" and not self.seeded.pending) or (
                kind == "page_ack" and not self.seeded.pages and not self.slack.live):
            kind = "show"  # a store too small to have any (--records under 30)
        channel = CHANNELS[rng.randrange(len(CHANNELS))]
        partner = f"Partner Agency {rng.randrange(PARTNERS)}"
        edits: list[str] = []
        day = f"2031-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        if kind == "handoff":
            risk = ("short-term", "emerging", "same-day")[seq % 3]
            body = wire.slash_command(
                "/handoff", f"person: P-{k + 1}{seq:06d} to: {partner} contact: intake desk "
                f"555-0100 due: {day} 17:00 risk: {risk}", user=user, channel=channel, **common)
        elif kind == "dependency":
            risk = "risk: same-day safeguard: temporary hold on start" if seq % 5 == 0 \
                else "risk: emerging"
            body = wire.slash_command(
                "/dependency", f"person: P-{k + 1}{seq:06d} action: unsigned authorization "
                f"partner: {partner} {risk} review: {day} 09:00", user=user, channel=channel,
                **common)
        elif kind == "list":
            body = wire.slash_command("/baton", "list", user=user, channel=channel, **common)
        elif kind == "show":
            ref = (f"D-{rng.randint(1, self.seeded.dependencies)}" if rng.random() < 0.25
                   else f"H-{rng.randint(1, self.seeded.handoffs)}")
            body = wire.slash_command("/baton", f"show {ref}", user=user, channel=channel,
                                      **common)
        elif kind == "partner_ack":  # by the record's owner (one of the record's people)
            if self.race and self.race[0][0] <= time.monotonic():
                _, record_id, channel, user = self.race.popleft()  # race the engine
                self.raced.append(record_id)
            else:
                # all taken: a second click, answered "already acknowledged"
                record_id, user = self.pending.pop() if self.pending \
                    else rng.choice(self.seeded.pending)
                channel = CHANNELS[record_id % len(CHANNELS)]
            card = self.cards.get(record_id)
            body = wire.block_actions(action_id=ActionId.PARTNER_ACK, value=str(record_id),
                                      user=user, channel=channel,
                                      message_ts=card[1] if card else "1700000000.000100",
                                      **common)
            if card:
                edits = [f"U:{card[0]}:{card[1]}"]
        else:  # page_ack, by the person paged (tier 1 pages the owner)
            if self.slack.live:
                work_id, user, channel = self.slack.live.popleft()
            elif self.pages:
                work_id, user, channel = self.pages.pop()
            else:
                work_id, user, channel = rng.choice(self.seeded.pages)
            page = self.slack.page_ts.get(work_id)
            body = wire.block_actions(action_id=ActionId.PAGE_ACK, value=str(work_id),
                                      user=user, channel=channel, block_id=f"page:{work_id}",
                                      message_ts=page[1] if page else "1700000000.000200",
                                      **common)
            if page:
                edits = [f"U:{page[0]}:{page[1]}"]
        return kind, http_request(body), [f"A:{key}", *edits]


async def client(k: int, port: int, traffic: Traffic, tally: Tally, *,
                 kinds: list[str] | None = None, until: float = 0.0, tag: str = "",
                 pace: str = "answer") -> None:
    """One person's Slack session. pace "answer": the next request goes once this one's
    answer is seen (as a person acts on what Baton showed them), or after 10 s without one;
    pace "none": as soon as the 200 comes back (a saturation test: no person does that)."""
    rng = random.Random(f"{traffic.salt}.{k}")
    names, weights = list(MIX), list(MIX.values())
    conn = Conn(port)
    seq = 0
    try:
        while True:
            if kinds is not None:
                if seq >= len(kinds):
                    break
                kind = kinds[seq]
            elif time.monotonic() >= until:
                break
            else:
                kind = rng.choices(names, weights)[0]
            kind, request, tokens = traffic.request(k, kind, seq, rng, tag)
            seq += 1
            tally.sent[kind] += 1
            futures = traffic.expect(tokens) if pace == "answer" else []
            t0 = time.perf_counter()
            try:
                async with asyncio.timeout(30):
                    status, shed = await conn.post(request)
            except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                    TimeoutError, ValueError) as exc:
                traffic.forget(tokens, futures)
                tally.conn_errors[kind][type(exc).__name__] += 1
                conn.close()
                await asyncio.sleep(0.05)
                continue
            dt = (time.perf_counter() - t0) * 1000
            if status == 200 and shed:
                tally.shed[kind] += 1  # "very busy, try again": answered, nothing taken
                tally.shed_ms[kind].append(dt)
            elif status == 200:
                tally.ms[kind].append(dt)
            else:
                tally.status[kind][status] += 1
            if futures and status == 200 and not shed:
                done, _ = await asyncio.wait(futures, timeout=ANSWER_WAIT,
                                             return_when=asyncio.FIRST_COMPLETED)
                if done:
                    tally.answer_ms[kind].append((min(f.result() for f in done) - t0) * 1000)
                else:
                    tally.unanswered[kind] += 1
            traffic.forget(tokens, futures)
    finally:
        conn.close()
