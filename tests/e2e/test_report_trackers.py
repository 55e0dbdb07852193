"""Pathway trackers in the commissioner's evidence report, end to end: trackers started and
worked through TrackerService (runtime.trackers) on the injected clock, the real engine
paging an overdue step and closing the post-discharge sprints at 72 hours, then the report
written and its tracker CSVs, figures and field map checked against the database."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from bot.domain.trackers import StepStatus
from bot.report import FIELD_LISTS, ReportSummary, field_map_lines, write_report
from bot.report.tracker_tables import FIELD_PREFIX
from store.models import AuditEvent, ContactAttempt, DueWork, Record
from tests.conftest import ALICE, CHANNEL, START, TEAM
from tests.fakes.cli import run_baton
from tests.fakes.ladder import at, serve_with_ladder, two_tier_ladder

MANAGER = "U0MGR0001"
NY = ZoneInfo("America/New_York")
WEEK_START = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)  # Monday 00:00 in New York
WEEK_END = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
T0 = START  # Monday 14:00 UTC: every tracker's anchor but the transition's
NOW = T0 + timedelta(days=8)  # the report is written after the provisional deadlines
OTHER_TEAM = "T0OTHERWS"

REFUSAL = "declined the risk review at the door; daughter briefed, retry booked for Day 1"
BLOCKED = "transport not booked: the county ride line was closed"


@pytest.fixture
def baton(serve_factory, database_url, tmp_path, slack):
    return serve_with_ladder(serve_factory, database_url, tmp_path, slack,
                             two_tier_ladder(manager=MANAGER), ["U0DIR0001"])


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def start(baton, template: str, person: str, *, anchor: datetime = T0,
          values: dict[str, str] | None = None, times: dict[str, datetime] | None = None,
          period: timedelta | None = None, team: str = TEAM) -> str:
    change = baton.runtime.trackers.start(
        team_id=team, channel_id=CHANNEL, actor=ALICE, template=template, person_ref=person,
        anchor=anchor, owner_id=ALICE, values=values or {}, times=times or {}, tz="UTC",
        period=period)
    return str(change.view.reference)


def step(baton, ref: str, key: str, status: StepStatus, text: str | None = None) -> None:
    baton.runtime.trackers.set_step(team_id=TEAM, ref=ref, step=key, status=status,
                                    text=text, actor=ALICE)


def done(baton, ref: str, *keys: str) -> None:
    for key in keys:
        step(baton, ref, key, StepStatus.DONE)


DISCHARGE_ALL = ("discharge-summary", "medication-list", "immediate-risks", "first-visit",
                 "home-recheck", "equipment", "services-active", "authorizations",
                 "plan-understood")
GATES = ("move-date", "support-plan", "medication-transfer", "emergency-contacts",
         "transportation", "staff-assignment", "environmental-check", "funding-confirmed")


def run_scenario(baton) -> dict[str, str]:
    """Two post-discharge sprints (A: one step late, one refused, one blocked then late, one
    not applicable, one never done and paged; B: the medication list never done), a
    transition whose funding start differs from the move date (escalated, decided) and
    which proceeds once its gates close, a service change, a health change, and three
    provisional packages (one funded, one escalated, one undecided past its deadline)."""
    t = baton.runtime.trackers
    baton.clock.set(T0)
    refs = {
        "A": start(baton, "discharge", "P-1042"),
        "B": start(baton, "discharge", "P-2077"),
        "transition": start(baton, "transition", "P-3003", anchor=T0 + timedelta(days=20),
                            times={"funding-start": T0 + timedelta(days=22)}),
        "service": start(baton, "service-change", "P-4004", values={
            "trigger": "mobility", "impact": "needs two staff for transfers",
            "action": "second carer added to morning calls", "funding": "yes",
            "immediate-risk": "no"}),
        "health": start(baton, "health-change", "P-5005", values={
            "source": "GP letter", "impact": "no unsupervised stairs",
            "instructions": "walk with her on the stairs; log falls",
            "family": "son informed by phone", "threshold": "any fall: call the nurse"},
            times={"review": T0 + timedelta(days=7)}),
        "funded": start(baton, "provisional", "P-6006", period=timedelta(days=7)),
        "escalated": start(baton, "provisional", "P-7007", period=timedelta(days=7)),
        "undecided": start(baton, "provisional", "P-8008", period=timedelta(days=7)),
    }
    at(baton, T0)  # the funding start differs from the move date: the commissioner paged
    t.contact(team_id=TEAM, ref=refs["funded"], outcome="attempted", note="no answer",
              actor=ALICE)
    baton.clock.set(hours(1))
    t.impact_statement(team_id=TEAM, ref=refs["transition"], actor=ALICE, statement={
        "staffing": "two extra days of staffing hours", "overnight": "overnight cover"})
    t.decide(team_id=TEAM, ref=refs["transition"], decision="approved-adjustment",
             text="start moved to match", actor=ALICE)

    baton.clock.set(hours(2))
    a, b = refs["A"], refs["B"]
    done(baton, a, "discharge-summary")
    step(baton, a, "immediate-risks", StepStatus.REFUSED, REFUSAL)
    step(baton, a, "equipment", StepStatus.NOT_APPLICABLE, "no equipment on the discharge list")
    done(baton, b, *(k for k in DISCHARGE_ALL if k != "medication-list"))
    done(baton, refs["transition"], *GATES)
    done(baton, refs["service"], "notify-case-manager", "notify-commissioner",
         "support-plan", "follow-up")
    step(baton, refs["service"], "funding-review", StepStatus.DONE,
         "county review opened; answer due Friday")
    done(baton, refs["health"], "instructions", "case-manager", "family", "quality-check",
         "review")
    done(baton, refs["funded"], "welfare-check", "coordination-contacts",
         "medication-reconciliation", "safety-plan", "priority-assessments")
    t.contact(team_id=TEAM, ref=refs["funded"], outcome="reached", note="agreed the plan",
              actor=ALICE)
    baton.clock.set(hours(3))
    t.proceed(team_id=TEAM, ref=refs["transition"], actor=ALICE)
    t.decide(team_id=TEAM, ref=refs["funded"], decision="funded",
             text="county waiver program", actor=ALICE)
    t.decide(team_id=TEAM, ref=refs["escalated"], decision="escalated",
             text="three welfare calls unanswered; risk rising", actor=ALICE)

    at(baton, hours(9))  # Day 0's steps fell due at 8h: the medication lists are paged
    baton.clock.set(hours(10))
    done(baton, a, "medication-list")  # late
    baton.clock.set(hours(20))
    step(baton, a, "first-visit", StepStatus.BLOCKED, BLOCKED)
    done(baton, a, "home-recheck")
    at(baton, hours(25))
    baton.clock.set(hours(26))
    done(baton, a, "first-visit")  # late, after being blocked
    baton.clock.set(hours(48))
    done(baton, a, "services-active", "plan-understood")
    at(baton, hours(71))  # the authorizations check falls due at 72h, with the sprint's end
    at(baton, hours(72))  # the engine closes both sprints
    at(baton, NOW)  # the undecided package's hard deadline has passed
    return refs


def make_report(baton, out: Path, *, team: str = TEAM) -> ReportSummary:
    return write_report(baton.sessions, team_id=team, start=WEEK_START, end=WEEK_END,
                        channel_id=None, out_dir=out, now=NOW, tz=NY)


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def iso(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).isoformat()


def settled(st: Record) -> str:
    """When a step was done, found not to apply, or refused; a step its tracker's end left
    outstanding (its closed_at says when it stopped being chased) was never settled."""
    return iso(st.closed_at) if st.status in ("done", "not_applicable", "refused") else ""


def expected_timing(st: Record) -> str:
    """How a step ended up, read from its row (the rule the report states)."""
    if st.status == "done":
        return "on_time" if st.closed_at <= st.due_at else "late"
    if st.status in ("refused", "not_applicable"):
        return st.status
    return "pending" if st.due_at > NOW else "not_done"


def db_trackers(baton, team: str = TEAM) -> tuple[list[Record], list[Record]]:
    with baton.sessions() as s:
        trackers = list(s.scalars(select(Record).where(
            Record.team_id == team, Record.kind == "tracker",
            Record.created_at >= WEEK_START, Record.created_at < WEEK_END)
            .order_by(Record.created_at, Record.id)))
        steps = list(s.scalars(select(Record).where(
            Record.kind == "step", Record.parent_id.in_([t.id for t in trackers]))
            .order_by(Record.number)))
    return trackers, steps


# --- the rows against the database ---

def test_tracker_rows_match_the_database(baton, tmp_path):
    refs = run_scenario(baton)
    summary = make_report(baton, tmp_path / "out")
    trackers, steps = db_trackers(baton)
    assert len(trackers) == 8 and len(steps) > 40
    medication_lists = [st for st in steps if st.step_key == "medication-list"]
    with baton.sessions() as s:
        contacts = s.scalar(select(func.count()).select_from(ContactAttempt))
        # The engine escalated both overdue medication lists (a tier-1 page each) ...
        escalated = set(s.scalars(select(DueWork.record_id).where(
            DueWork.record_id.in_([st.id for st in medication_lists]),
            DueWork.kind == "page", DueWork.tier == 1)))
        # ... and these are the tracker and step pages that reached Slack.
        sent = {r.reference for r in (*trackers, *steps) for w in s.scalars(select(DueWork)
                .where(DueWork.record_id == r.id, DueWork.kind == "page",
                       DueWork.sent_at.is_not(None), DueWork.message_ts.is_not(None)))}
    assert contacts == 2 and escalated == {st.id for st in medication_lists}
    assert summary.row_counts["trackers.csv"] == 8
    assert summary.row_counts["steps.csv"] == len(steps)
    assert summary.row_counts["contact_attempts.csv"] == 2
    assert summary.row_counts["records.csv"] == 0  # trackers are not handoffs

    _, rows = read_csv(tmp_path / "out" / "trackers.csv")
    assert [r["reference"] for r in rows] == [t.reference for t in trackers]
    for t, row in zip(trackers, rows, strict=True):
        assert (row["template"], row["status"], row["person_ref"], row["owner"]) == (
            t.template, t.status, t.person_ref, t.owner_id)
        assert (row["anchor_at"], row["deadline"], row["closed_at"]) == (
            iso(t.anchor_at), iso(t.due_at), iso(t.closed_at))
    by_ref = {r["reference"]: r for r in rows}
    for sprint in ("A", "B"):  # both closed by the engine at 72 hours
        row = by_ref[refs[sprint]]
        assert row["status"] == "closed" and row["closed_at"] == iso(hours(72))
    a = by_ref[refs["A"]]
    assert a["summary"].startswith("on time 4; late 2 (Medication list, First visit")
    assert "not done 1 (Cross-agency check: authorizations in place)" in a["summary"]
    assert (a["steps_on_time"], a["steps_late"], a["steps_not_done"], a["steps_refused"],
            a["steps_not_applicable"]) == ("4", "2", "1", "1", "1")
    assert by_ref[refs["transition"]]["proceeded_at"] == iso(hours(3))
    assert (by_ref[refs["funded"]]["decision"], by_ref[refs["funded"]]["decision_text"]) == (
        "funded", "county waiver program")
    assert by_ref[refs["undecided"]]["decision"] == ""

    _, step_rows = read_csv(tmp_path / "out" / "steps.csv")
    assert [r["step_ref"] for r in step_rows] == [st.reference for st in steps]
    for st, row in zip(steps, step_rows, strict=True):
        assert (row["status"], row["owner"], row["agency"], row["due_at"], row["settled_at"],
                row["timing"]) == (st.status, st.owner_id, st.agency, iso(st.due_at),
                                   settled(st), expected_timing(st)), st.reference
    mine = {(r["tracker_ref"], r["step_key"]): r for r in step_rows}
    assert mine[(refs["A"], "discharge-summary")]["timing"] == "on_time"
    assert mine[(refs["A"], "medication-list")]["timing"] == "late"
    assert mine[(refs["B"], "medication-list")]["timing"] == "not_done"
    assert {r["step_ref"] for r in step_rows if r["pages_sent"] != "0"} == {
        ref for ref in sent if "." in ref}
    refused = mine[(refs["A"], "immediate-risks")]
    assert (refused["status"], refused["timing"], refused["refusal_managed"]) == (
        "refused", "refused", REFUSAL)
    blocked = mine[(refs["A"], "first-visit")]
    assert (blocked["status"], blocked["timing"], blocked["blocked_reason"]) == (
        "done", "late", BLOCKED)  # the reason outlives the block
    na = mine[(refs["A"], "equipment")]
    assert (na["timing"], na["na_reason"]) == ("not_applicable",
                                               "no equipment on the discharge list")
    assert mine[(refs["A"], "equipment")]["agency_label"] == "Health partner"
    funding = mine[(refs["transition"], "funding-decision")]
    assert funding["decision"] == "approved-adjustment" and funding["gate"] == "yes"
    assert json.loads(funding["impact_statement"])["overnight"] == "overnight cover"

    _, contact_rows = read_csv(tmp_path / "out" / "contact_attempts.csv")
    assert [(r["tracker_ref"], r["at"], r["actor"], r["outcome"], r["note"])
            for r in contact_rows] == [
        (refs["funded"], iso(T0), ALICE, "attempted", "no answer"),
        (refs["funded"], iso(hours(2)), ALICE, "reached", "agreed the plan")]

    # Every event of every tracker and step is in the trail; the step pages are escalations.
    _, events = read_csv(tmp_path / "out" / "audit_events.csv")
    with baton.sessions() as s:
        tracked = s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.record_id.in_([r.id for r in (*trackers, *steps)])))
    assert len([e for e in events if e["record_id"]]) == tracked
    _, escalations = read_csv(tmp_path / "out" / "escalations.csv")
    assert {e["record_ref"] for e in escalations} == sent


def test_tracker_figures_on_the_page_and_in_the_summary(baton, tmp_path):
    refs = run_scenario(baton)
    summary = make_report(baton, tmp_path / "out")
    figures = dict(summary.trackers)
    _, steps = db_trackers(baton)
    on_time = sum(expected_timing(st) == "on_time" for st in steps)
    due = sum(expected_timing(st) in ("on_time", "late", "not_done") for st in steps)
    assert figures["Trackers started"] == ("8 (discharge 2, transition 1, service-change 1, "
                                           "health-change 1, provisional 3)")
    assert figures["Tracker steps done on time"] == f"{round(100 * on_time / due)}% " \
                                                    f"({on_time} of {due})"
    assert figures["Steps refused by the person"] == "1"
    assert figures["Sprint step that most often fails"] == "Medication list: 100% (2 of 2)"
    assert figures["Provisional packages moved to a funded program"] == (
        "50% (1 of 2); 1 escalated again with evidence; 1 undecided past the deadline")
    text = summary.headline_text()
    assert "Provisional packages moved to a funded program: 50% (1 of 2)" in text
    assert "trackers.csv 8" in text

    page = summary.html_path.read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    failing = re.search(r"steps that most often fail</h3>.*?<tbody>(.*?)</tbody>", page,
                        flags=re.S)
    assert failing
    ranked = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td><td>([^<]*)</td>"
                        r"<td>(\d+)</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>"
                        r"<td>([^<]*)</td></tr>", failing.group(1))
    assert [(r[2], r[7]) for r in ranked[:4]] == [
        ("medication-list", "100% (2 of 2)"),
        ("first-visit", "50% (1 of 2)"),  # late and blocked in A: one failure, not two
        ("authorizations", "50% (1 of 2)"),  # ties keep the sprint's own order
        ("discharge-summary", "0% (0 of 2)")]
    assert ranked[1][4:7] == ("1", "0", "1")  # late 1, not done 0, blocked 1
    assert len(ranked) == 9
    by_template = re.search(r"<h3>By template</h3>.*?<tbody>(.*?)</tbody>", page, flags=re.S)
    assert by_template and ("<tr><td>provisional</td><td>3</td><td>1</td><td>2</td><td>0</td>"
                            in by_template.group(1))
    assert "<tr><td>discharge</td><td>2</td><td>0</td><td>2</td><td>0</td>" in \
        by_template.group(1)
    for ref in refs.values():
        assert f'<section class="record" id="{ref}">' in page
    # The health change's and the service change's seed fields, as recorded.
    health = re.search(rf'id="{refs["health"]}">(.*?)</section>', page, flags=re.S)
    assert health and "escalation threshold</td><td>any fall: call the nurse" in health.group(1)
    service = re.search(rf'id="{refs["service"]}">(.*?)</section>', page, flags=re.S)
    assert service and "change trigger</td><td>mobility" in service.group(1)
    assert "<h2>Where the seeds&#x27; fields are answered</h2>" in page


# --- the seeds' field lists: each mapped column exists and is filled from the database ---

def _step_expected(st: Record, column: str, s: Any) -> str:
    readers = {
        "status": lambda: st.status, "timing": lambda: expected_timing(st),
        "settled_at": lambda: settled(st), "due_at": lambda: iso(st.due_at),
        "owner": lambda: st.owner_id, "agency_label": lambda: {
            "provider": "Provider", "case-management": "Case management",
            "commissioner": "Commissioner", "health-partner": "Health partner",
            "pharmacy": "Pharmacy", "housing": "Housing", "transport": "Transport",
            "family": "Family"}[st.agency],
        "note": lambda: (st.outcome or "") if st.status == "done" else "",
        "decision": lambda: st.decision or "",
        "impact_statement": lambda: json.dumps(st.details["impact"], sort_keys=True),
        "pages_sent": lambda: str(s.scalar(select(func.count()).select_from(DueWork).where(
            DueWork.record_id == st.id, DueWork.kind == "page",
            DueWork.message_ts.is_not(None)))),
        "refusal_managed": lambda: st.outcome if st.status == "refused" else "",
        "step_key": lambda: st.step_key,
        "blocked_reason": lambda: next((e.note for e in reversed(list(s.scalars(
            select(AuditEvent).where(AuditEvent.record_id == st.id)
            .order_by(AuditEvent.id)))) if e.after == "blocked"), ""),
    }
    return str(readers[column]())


def _tracker_expected(t: Record, column: str, s: Any) -> str:
    if column.startswith(FIELD_PREFIX):
        key = column[len(FIELD_PREFIX):]
        times, values = t.details["times"], t.details["values"]
        return (iso(datetime.fromisoformat(times[key])) if key in times
                else str(values[key]))
    proceeded = s.scalar(select(AuditEvent.at).where(AuditEvent.record_id == t.id,
                                                     AuditEvent.kind == "proceeded"))
    readers = {
        "anchor_at": lambda: iso(t.anchor_at), "deadline": lambda: iso(t.due_at),
        "status": lambda: t.status, "closed_at": lambda: iso(t.closed_at),
        "proceeded_at": lambda: iso(proceeded), "owner": lambda: t.owner_id,
        "decision": lambda: t.decision or "",
        "decision_text": lambda: t.outcome if t.decision else "",
        "summary": lambda: t.outcome if not t.decision else "",
        "period_days": lambda: str(t.details["period_days"]),
    }
    return str(readers[column]())


def test_every_mapped_column_exists_and_is_filled_from_the_database(baton, tmp_path):
    refs = run_scenario(baton)
    make_report(baton, tmp_path / "out")
    files = {name: read_csv(tmp_path / "out" / name)
             for name in ("trackers.csv", "steps.csv", "contact_attempts.csv")}
    example = {"transition": refs["transition"], "discharge": refs["A"],
               "service-change": refs["service"], "health-change": refs["health"],
               "provisional": refs["funded"]}
    checked = 0
    with baton.sessions() as s:
        for fl in FIELD_LISTS:
            ref = example[fl.template]
            tracker = s.scalar(select(Record).where(Record.team_id == TEAM,
                                                    Record.kind == "tracker",
                                                    Record.number == int(ref[2:])))
            assert tracker is not None and tracker.template == fl.template
            steps = {st.step_key: st for st in s.scalars(select(Record).where(
                Record.parent_id == tracker.id))}
            contacts = list(s.scalars(select(ContactAttempt).where(
                ContactAttempt.record_id == tracker.id).order_by(ContactAttempt.at)))
            for answer in fl.answers:
                header, rows = files[answer.file]
                for column in answer.columns:
                    assert column in header, (fl.template, answer.field, column)
                if answer.file == "contact_attempts.csv":
                    mine = [r for r in rows if r["tracker_ref"] == ref]
                    assert [(r["at"], r["actor"], r["outcome"], r["note"]) for r in mine] == [
                        (iso(c.at), c.actor, c.outcome, c.note) for c in contacts]
                    checked += 1
                    continue
                if answer.file == "trackers.csv":
                    row = next(r for r in rows if r["reference"] == ref)
                    expect = {c: _tracker_expected(tracker, c, s) for c in answer.columns}
                elif answer.step:
                    row = next(r for r in rows if r["tracker_ref"] == ref
                               and r["step_key"] == answer.step)
                    expect = {c: _step_expected(steps[answer.step], c, s)
                              for c in answer.columns}
                else:  # columns of every step: the tracker's first step that fills them
                    row = next(r for r in rows if r["tracker_ref"] == ref
                               and all(r[c] for c in answer.columns))
                    st = steps[row["step_key"]]
                    expect = {c: _step_expected(st, c, s) for c in answer.columns}
                got = {c: row[c] for c in answer.columns}
                assert got == expect, (fl.template, answer.field)
                # Filled, not just present: only a step never settled has no settled time.
                empty = [c for c, v in got.items() if not v]
                assert empty in ([], ["settled_at"]), (fl.template, answer.field, got)
                checked += 1
    assert checked == sum(len(fl.answers) for fl in FIELD_LISTS)


def test_baton_report_prints_the_field_map_and_the_tracker_figures(baton, database_url,
                                                                    tmp_path):
    run_scenario(baton)
    out = tmp_path / "cli"
    r = run_baton(["report", "--from", "2026-11-23", "--to", "2026-11-29", "--team", TEAM,
                   "--out", str(out)],
                  {"DATABASE_URL": database_url, "BATON_TIMEZONE": "America/New_York"},
                  timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert ("Trackers started: 8 (discharge 2, transition 1, service-change 1, "
            "health-change 1, provisional 3)") in text
    assert "Provisional packages moved to a funded program: 50% (1 of 2)" in text
    assert "Sprint step that most often fails: Medication list: 100% (2 of 2)" in text
    assert (out / "steps.csv").is_file() and f"wrote {out / 'trackers.csv'}" in text
    assert text.count("\n".join(field_map_lines())) == 1
    for fl in FIELD_LISTS:
        assert f"{fl.title} (seed {fl.seed}; template {fl.template})" in text
    # Seed 001's auditable validation and seed 000's nine required fields, word for word,
    # each followed by the file and columns that answer it.
    for words in ("change trigger", "person impact", "provider action",
                  "case manager notification", "funding review status",
                  "updated support plan", "follow-up date", "date of health change",
                  "source of information", "immediate support impact", "staff instructions",
                  "family communication status", "follow-up responsibility", "review date",
                  "escalation threshold"):
        assert re.search(rf"^  {re.escape(words)} +\S+\.csv", text, flags=re.M), words
    assert re.search(r"^  escalation threshold +trackers\.csv: field_threshold$", text,
                     flags=re.M)
    assert re.search(r"^  funding review status +steps\.csv \(step funding-review\): status",
                     text, flags=re.M)


# --- one workspace's report holds only its own trackers ---

def test_another_workspaces_report_has_none_of_these_trackers(baton, tmp_path):
    refs = run_scenario(baton)
    baton.clock.set(NOW)
    theirs = start(baton, "discharge", "P-9999", anchor=NOW + timedelta(days=30),
                   team=OTHER_TEAM)
    with baton.sessions.begin() as s:  # started this week in their workspace too
        s.execute(update(Record).where(Record.team_id == OTHER_TEAM).values(created_at=T0))
    ours = make_report(baton, tmp_path / "ours")
    other = make_report(baton, tmp_path / "theirs", team=OTHER_TEAM)
    assert ours.row_counts["trackers.csv"] == 8
    assert other.row_counts["trackers.csv"] == 1
    assert other.row_counts["steps.csv"] == 9 and other.row_counts["contact_attempts.csv"] == 0
    _, rows = read_csv(tmp_path / "theirs" / "trackers.csv")
    assert [(r["reference"], r["person_ref"]) for r in rows] == [(theirs, "P-9999")]
    _, step_rows = read_csv(tmp_path / "theirs" / "steps.csv")
    assert {r["tracker_ref"] for r in step_rows} == {theirs}
    _, events = read_csv(tmp_path / "theirs" / "audit_events.csv")
    assert {e["team_id"] for e in events} == {OTHER_TEAM}
    page = other.html_path.read_text(encoding="utf-8")
    for person in ("P-1042", "P-2077", "P-6006"):
        assert person not in page
    assert all(f'id="{ref}"' not in page for ref in refs.values() if ref != theirs)
    assert dict(other.trackers)["Trackers started"] == "1 (discharge 1)"
