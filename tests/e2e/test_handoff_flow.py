"""End to end through `serve`: signed HTTP requests in, Slack Web API calls out."""

from __future__ import annotations

from datetime import UTC, datetime

from slack_sdk.models.blocks import Block
from sqlalchemy import func, select

from store.models import AuditEvent, Record
from tests.conftest import ALICE, BOB, CHANNEL, blocks_of

HANDOFF = ("person: P-1042 to: Northside Home Care contact: intake desk 555-0100 "
           "due: tomorrow 5pm risk: short-term")


def _count(baton, model=Record) -> int:
    with baton.sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_handoff_command_creates_record_card_and_confirmation(baton):
    resp = baton.command("/handoff", HANDOFF)
    assert resp.status_code == 200
    assert resp.text == ""  # acked at once, empty: the work happens after

    with baton.sessions() as s:
        rec = s.scalars(select(Record)).one()
        events = s.scalars(select(AuditEvent)).all()
    assert rec.reference == "H-1"
    assert rec.person_ref == "P-1042"
    assert rec.partner.display_name == "Northside Home Care"
    assert rec.partner.key == "northside home care"
    assert rec.receiving_contact == "intake desk 555-0100"
    # Alice is in New York; "tomorrow 5pm" on Monday 2026-11-23 is Tuesday 17:00 EST.
    assert rec.due_at == datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
    assert rec.owner_id == ALICE and rec.created_by == ALICE
    assert rec.status == "pending" and rec.risk == "short-term"
    assert [e.kind for e in events] == ["created"]
    assert events[0].after["person_ref"] == "P-1042"

    (post,) = baton.slack.calls_to("chat.postMessage")
    assert post.params["channel"] == CHANNEL
    parsed = [Block.parse(b) for b in blocks_of(post)]
    assert all(b is not None for b in parsed)
    flat = str(blocks_of(post))
    assert "H-1" in flat and "P-1042" in flat and "Northside Home Care" in flat
    assert f"<!date^{int(rec.due_at.timestamp())}^" in flat
    actions = next(b for b in blocks_of(post) if b["type"] == "actions")
    assert [e["text"]["text"] for e in actions["elements"]] == [
        "Partner acknowledged", "Record response", "Edit", "Cancel"]
    assert rec.card_ts == post.response["ts"]
    assert "Logged *H-1*" in baton.last_reply()


def test_second_handoff_gets_next_reference_and_partner_is_shared(baton):
    baton.command("/handoff", HANDOFF)
    baton.command("/handoff", HANDOFF.replace("Northside Home Care", "northside  home-care")
                  .replace("P-1042", "P-7"))
    with baton.sessions() as s:
        refs = [r.reference for r in s.scalars(select(Record).order_by(Record.id))]
        partners = {r.partner_id for r in s.scalars(select(Record))}
    assert refs == ["H-1", "H-2"]
    assert len(partners) == 1


def test_retried_request_does_not_create_a_second_record(baton):
    baton.command("/handoff", HANDOFF, trigger_id="same-trigger")
    baton.command("/handoff", HANDOFF, trigger_id="same-trigger")
    assert _count(baton) == 1
    assert len(baton.slack.calls_to("chat.postMessage")) == 1


def test_name_instead_of_person_code_is_refused_and_nothing_written(baton):
    baton.command("/handoff", HANDOFF.replace("P-1042", "Jane Doe"))
    reply = baton.last_reply()
    assert "code such as P-1042, never a name" in reply and "\\d" not in reply
    assert _count(baton) == 0 and _count(baton, AuditEvent) == 0
    assert baton.slack.calls_to("chat.postMessage") == []


def test_past_deadline_is_refused_quoting_the_text(baton):
    baton.command("/handoff", HANDOFF.replace("tomorrow 5pm", "2026-11-20 09:00"))
    reply = baton.last_reply()
    assert "2026-11-20 09:00" in reply and "due" in reply
    assert _count(baton) == 0


def test_unreadable_deadline_names_the_field_and_gives_examples(baton):
    baton.command("/handoff", HANDOFF.replace("tomorrow 5pm", "whenever they can"))
    reply = baton.last_reply()
    assert "`due`" in reply and "whenever they can" in reply and "tomorrow 5pm" in reply
    assert _count(baton) == 0


def test_text_before_first_key_is_refused(baton):
    baton.command("/handoff", "P-1042 to Northside")
    assert "Start with a key" in baton.last_reply()
    assert _count(baton) == 0


def test_a_typo_of_a_key_is_named_and_nothing_is_logged_or_opened(baton):
    # The command: `contcat:` once vanished into the service's name and a form opened.
    baton.command("/handoff", "person: P-3 to: Eastside Clinic contcat: 555-0111 "
                  "due: tomorrow 5pm")
    assert baton.last_reply() == (
        ":warning: Couldn't log the handoff. Unknown key `contcat:` — did you mean "
        "`contact:`? (If `contcat:` is part of the text, leave out its colon.)")
    assert _count(baton) == 0 and _count(baton, AuditEvent) == 0
    assert baton.slack.calls_to("views.open") == []
    assert baton.slack.calls_to("chat.postMessage") == []


def test_a_bare_weekend_date_moves_to_friday_and_the_confirmation_says_so(baton):
    # Monday 23 Nov 2026; Saturday 28 Nov has no working hours: Friday's end of day.
    baton.command("/handoff", HANDOFF.replace("tomorrow 5pm", "Nov 28"))
    with baton.sessions() as s:
        rec = s.scalars(select(Record)).one()
    assert rec.due_at == datetime(2026, 11, 27, 22, 0, tzinfo=UTC)  # Fri 17:00 EST
    reply = baton.last_reply()
    assert "Logged *H-1*" in reply
    assert reply.endswith("`due`: Sat 28 Nov is not a working day: read as Fri 27 Nov 17:00 "
                          "(the working day before).")


def test_owner_mention_and_bob_time_zone(baton):
    # Bob (Los Angeles) logs it for Alice: the deadline is read in Bob's zone.
    baton.command("/handoff", HANDOFF.replace("short-term", f"emerging owner: <@{ALICE}|alice>"),
                  user=BOB)
    with baton.sessions() as s:
        rec = s.scalars(select(Record)).one()
    assert rec.owner_id == ALICE and rec.created_by == BOB
    assert rec.due_at == datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # 17:00 PST


def test_dependency_command(baton):
    baton.command("/dependency", "person: P-2001 action: unsigned authorization "
                  "partner: County Managed Care risk: same-day safeguard: temporary hold, "
                  "family informed route: MCO escalation line review: today 3pm")
    with baton.sessions() as s:
        rec = s.scalars(select(Record)).one()
    assert rec.reference == "D-1" and rec.kind == "dependency"
    assert rec.risk == "same-day" and rec.interim_safeguard == "temporary hold, family informed"
    assert rec.due_at == datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
    (post,) = baton.slack.calls_to("chat.postMessage")
    actions = next(b for b in blocks_of(post) if b["type"] == "actions")
    assert [e["text"]["text"] for e in actions["elements"]] == ["Resolve", "Edit", "Cancel"]
    assert "Interim safeguard" in str(blocks_of(post))


def test_health_check(baton):
    resp = baton.http.get(f"{baton.url}/healthz")
    assert resp.status_code == 200 and resp.json()["database"] == "writable"


def test_forged_signature_is_401_and_writes_nothing(baton):
    from bot.slack import wire
    body = wire.slash_command("/handoff", HANDOFF, user=ALICE, channel=CHANNEL, team="T0BATON",
                              trigger_id="t", response_url=baton.slack.response_url("x"))
    headers = wire.signed_headers(body, "not-the-secret")
    assert baton.post(body, headers=headers).status_code == 401
    import time
    old = baton.post(body, timestamp=int(time.time()) - 301)
    assert old.status_code == 401
    baton.runtime.wait_idle(timeout=60)
    assert (_count(baton) == 0 and baton.slack.calls == []) or \
        all(c.method == "auth.test" for c in baton.slack.calls)


def test_slack_retry_of_the_same_command_creates_nothing_new(baton):
    """Slack resends a request it did not see answered, with X-Slack-Retry-Num: the same
    trigger_id finds the record already made."""
    from bot.slack import wire
    body = wire.slash_command("/handoff", HANDOFF, user=ALICE, channel=CHANNEL, team="T0BATON",
                              trigger_id="retried-trigger",
                              response_url=baton.slack.response_url("retry"))
    assert baton.post(body).status_code == 200
    headers = wire.signed_headers(body, "test-signing-secret")
    headers.update({"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert baton.post(body, headers=headers).status_code == 200
    baton.runtime.wait_idle(timeout=60)
    assert _count(baton) == 1
    assert len(baton.slack.calls_to("chat.postMessage")) == 1


def test_retry_naming_a_new_partner_leaves_no_dangling_partner(baton):
    # The retry is rolled back after it inserted the new partner; the next record naming
    # that partner must get a real row, not an id remembered from the rolled-back insert.
    baton.command("/handoff", HANDOFF, trigger_id="same-trigger")
    baton.command("/handoff", HANDOFF.replace("Northside Home Care", "Lakeview Hospice"),
                  trigger_id="same-trigger")
    assert _count(baton) == 1
    baton.command("/handoff", HANDOFF.replace("Northside Home Care", "Lakeview Hospice"),
                  trigger_id="fresh-trigger")
    with baton.sessions() as s:
        latest = s.scalars(select(Record).order_by(Record.id.desc())).first()
        assert latest.partner is not None
        assert latest.partner.display_name == "Lakeview Hospice"
