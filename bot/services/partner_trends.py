"""Governance of repeated route failure (seed 002, Example 3): the sweep that notices when one
partner route keeps missing acknowledgement deadlines and posts a "systemic pattern" notice
to the governance channel, the accountable director's classification of it, and one
partner's trend figures for `/baton partner NAME`.

When a route fires. A route is reported when at least `pattern_threshold` of its handoffs
missed their acknowledgement deadline within the last `pattern_window_days` (definitions in
bot.domain.trends). It is reported once: after a notice, the same route fires again only
when `pattern_threshold` *new* misses (response deadlines after the last notice's detection
time) have happened within the window. Each notice is a systemic_patterns row, inserted and
committed before anything is posted, in a transaction that holds the partner's row lock on
PostgreSQL, so two replicas sweeping at once write one row. The post follows; a row whose
post failed (or was interrupted) keeps message_ts empty and is posted by the next sweep.
With no governance channel set, rows are still written (the evidence is kept), nothing is
posted, and a warning is logged once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.domain.governance import (
    FIELD_CLASSIFICATION,
    FIELD_CORRECTIVE_ROUTE,
    FIELD_OWNER,
    FIELD_REVIEW_DUE,
    Classification,
    CorrectiveRoute,
    route_label,
)
from bot.domain.permissions import Act
from bot.domain.quoting import escaped, mention, named
from bot.domain.records import DomainError
from bot.domain.trends import (
    WINDOWS,
    RepeatedMisses,
    RouteTrend,
    figures,
    missed_acknowledgement,
    partner_totals,
    repeated_misses,
    route_trends,
)
from bot.domain.words import plural
from bot.services.delivery import Delivery, Undelivered
from bot.services.permissions import Permissions
from bot.settings import Settings
from store import queries
from store import trends as tq
from store.db import transaction
from store.models import SystemicPattern

log = logging.getLogger("baton.governance")

BATON = "baton"  # the actor of what Baton does by itself
CONTRACT_IMPACT_LIMIT = 1000  # characters of the director's contract impact that are kept


@dataclass(frozen=True)
class PartnerFigures:
    """`/baton partner NAME`: one partner's figures over the rolling windows, all routes
    (None when nothing was logged with it in the last 90 days) and each route, and its
    systemic-pattern notices."""

    partner: str  # the display name
    totals: RouteTrend | None
    trends: list[RouteTrend]
    patterns: list[SystemicPattern]
    now: datetime


# SQLite: one lock per database in this process, held from "is it still unposted?" to
# recording where it went, so two sweeps (two Governance objects) never both post a notice.
_POST_LOCKS: dict[int, threading.Lock] = {}
_POST_LOCKS_GUARD = threading.Lock()


def _post_lock(engine: Engine) -> threading.Lock:
    with _POST_LOCKS_GUARD:
        return _POST_LOCKS.setdefault(id(engine), threading.Lock())


class Governance:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, delivery: Delivery,
                 settings: Settings, *, permissions: Permissions) -> None:
        self._sessions = sessions
        self._clock = clock
        self._delivery = delivery
        self._settings = settings
        self._permissions = permissions
        self._sweeping = threading.Lock()
        self._warned_no_channel = False

    # --- the sweep ---

    def sweep(self, team_id: str) -> int:
        """Report every route over the threshold that has not been reported for these misses,
        and post notices still unposted. Returns how many notices were posted."""
        if not self._sweeping.acquire(blocking=False):
            return 0  # a sweep is already under way in this process
        try:
            now = self._clock.now()
            window = timedelta(days=self._settings.pattern_window_days)
            with self._sessions() as s:
                candidates = tq.missed_acknowledgement_facts(s, team_id=team_id,
                                                             since=now - window, until=now)
                since = tq.last_detections(s, team_id=team_id) if candidates else {}
            found = repeated_misses(candidates, now=now, window=window,
                                    threshold=self._settings.pattern_threshold, since=since)
            channel = self._settings.channel_for(team_id, "governance_channel")
            if found and channel is None and not self._warned_no_channel:
                self._warned_no_channel = True
                log.warning("a systemic pattern was detected but BATON_GOVERNANCE_CHANNEL is "
                            "not set: recorded, not posted")
            for hit in found:
                try:
                    self._claim(team_id, hit, now=now, channel=channel)
                except Exception:  # one route's failure must not hide the others
                    log.exception("could not record the systemic pattern of %s · %s",
                                  hit.partner, hit.route or "no route")
            if channel is None:
                return 0
            with self._sessions() as s:
                waiting = tq.unposted_patterns(s, team_id=team_id)
            return sum(self._post(pattern_id) for pattern_id in waiting)
        finally:
            self._sweeping.release()

    def _claim(self, team_id: str, hit: RepeatedMisses, *, now: datetime,
               channel: str | None) -> int | None:
        """Write the pattern row and its audit event, unless another sweep (or replica) has
        reported these misses meanwhile. Returns the new row's id."""
        threshold = self._settings.pattern_threshold
        impact = self._impact(team_id, hit, now=now)
        with transaction(self._sessions) as s:
            tq.lock_partner(s, partner_id=hit.partner_id)
            last = tq.last_detections(s, team_id=team_id, partner_id=hit.partner_id) \
                .get(hit.key)
            misses = [m for m in hit.misses if last is None or m.due_at > last]
            if len(misses) < threshold:
                return None  # reported a moment ago
            evidence = {
                "partner": hit.partner,
                "route": hit.route,
                "threshold": threshold,
                "misses": [{
                    "record_id": m.record_id, "reference": m.reference,
                    "person_ref": m.person_ref, "due_at": m.due_at.isoformat(),
                    "acknowledged_at": m.acknowledged_at.isoformat() if m.acknowledged_at
                    else None,
                    "delay_seconds": int(m.delay.total_seconds()), "ongoing": m.ongoing,
                } for m in misses],
                "frequency": {"in_window": hit.in_window,
                              "in_90_days": impact.pop("misses_90"),
                              "since": last.isoformat() if last else None},
                "impact": impact,
            }
            pattern = tq.add_pattern(
                s, team_id=team_id, partner_id=hit.partner_id, route=hit.route,
                detected_at=now, window_days=self._settings.pattern_window_days,
                misses=len(misses), evidence=evidence, channel_id=channel)
            queries.add_event(
                s, record=None, team_id=team_id, at=now, actor=BATON, kind="systemic_pattern",
                field=f"systemic_pattern:{pattern.id}",
                after={"pattern": pattern.id, "partner": hit.partner, "route": hit.route,
                       "misses": len(misses), "records": [m.reference for m in misses],
                       "window_days": self._settings.pattern_window_days},
                note=f"{plural(len(misses), 'missed acknowledgement deadline')} on one "
                     "partner route")
            return pattern.id

    def _impact(self, team_id: str, hit: RepeatedMisses, *, now: datetime) -> dict[str, Any]:
        """The service impact: what is open with the partner now, and the route's last 30
        days of stalled days, late responses and escalations."""
        with self._sessions() as s:
            facts = tq.record_facts(s, team_id=team_id, since=now - timedelta(days=90),
                                    partner_id=hit.partner_id)
            pages = tq.page_facts(s, team_id=team_id, since=now - timedelta(days=90),
                                  partner_id=hit.partner_id)
        on_route = [f for f in facts if f.key == hit.key]
        open_route = [f for f in on_route if f.status in tq.OPEN]
        last_30 = figures(on_route, pages, now=now, window_days=30)
        last_90 = figures(on_route, pages, now=now, window_days=90)
        return {
            "open_records": len(open_route),
            "awaiting_acknowledgement": sum(1 for f in open_route if f.acknowledged_at is None
                                            and missed_acknowledgement(f, now=now)),
            "people": sorted({f.person_ref for f in open_route}),
            "partner_open_records": sum(1 for f in facts if f.status in tq.OPEN),
            "stalled_days_30": last_30.stalled_days,
            "late_responses_30": last_30.late_responses,
            "escalations_30": [list(t) for t in last_30.escalations],
            "misses_90": last_90.missed_acknowledgements,
        }

    def _post(self, pattern_id: int) -> int:
        """Post one claimed notice. On PostgreSQL the row is locked while posting, so replicas
        retrying the same notice never both post it. SQLite serves one process: a lock in the
        process does that job, and its single write lock is not held across the Slack call."""
        postgres = self._sessions.kw["bind"].dialect.name == "postgresql"
        if postgres:
            with transaction(self._sessions) as s:
                pattern = tq.pattern_to_post(s, pattern_id=pattern_id)
                if pattern is None:
                    return 0
                sent = self._send(pattern)
                if sent is not None:
                    pattern.channel_id, pattern.message_ts = sent
            return int(sent is not None)
        with _post_lock(self._sessions.kw["bind"]):
            with self._sessions() as s:
                pattern = tq.pattern_to_post(s, pattern_id=pattern_id)
            if pattern is None:
                return 0
            sent = self._send(pattern)
            if sent is None:
                return 0
            with transaction(self._sessions) as s:
                row = tq.pattern_to_post(s, pattern_id=pattern_id)
                if row is not None:
                    row.channel_id, row.message_ts = sent
            return 1

    def _send(self, pattern: SystemicPattern) -> tuple[str, str] | None:
        try:
            return self._delivery.post_notice(pattern)
        except Undelivered as exc:
            log.warning("systemic-pattern notice %s not posted to %s (%s); the next sweep "
                        "tries again", pattern.id, pattern.channel_id, exc.error)
            return None

    # --- the accountable director's classification ---

    def pattern(self, pattern_id: int, *, team_id: str) -> SystemicPattern:
        with self._sessions() as s:
            row = tq.get_pattern(s, pattern_id=pattern_id, team_id=team_id)
        if row is None:
            raise DomainError("That systemic-pattern notice no longer exists.")
        return row

    def classifiable(self, pattern_id: int, *, team_id: str, actor: str) -> SystemicPattern:
        """The pattern, if `actor` may classify it now (before opening the modal)."""
        row = self.pattern(pattern_id, team_id=team_id)
        self._permissions.require(Act.CLASSIFY, team_id=team_id, actor=actor,
                                  channel_id=row.channel_id)
        if row.classification:
            raise _already(row)
        return row

    def classify(self, pattern_id: int, *, actor: str, classification: str,
                 corrective_route: str | None, owner_id: str | None,
                 review_due: datetime | None, team_id: str, contract_impact: str | None = None,
                 update_message: bool = True,
                 overridden: Sequence[str] = ()) -> SystemicPattern:
        """Record the accountable director's decision: case-level or systemic, the proposed
        corrective route (required when systemic), the executive owner and the review
        deadline, with an audit event; then show it on the notice in place. A pattern is
        classified once: a second classification is refused. DomainError.field names the
        input at fault (the modal's block ids)."""
        now = self._clock.now()
        self._permissions.require(Act.CLASSIFY, team_id=team_id, actor=actor,
                                  field=FIELD_CLASSIFICATION)
        try:
            chosen = Classification(classification)
        except ValueError:
            raise DomainError("Choose case-level or systemic.",
                              field=FIELD_CLASSIFICATION) from None
        route: CorrectiveRoute | None = None
        if corrective_route:
            try:
                route = CorrectiveRoute(corrective_route)
            except ValueError:
                choices = ", ".join(r.label.lower() for r in CorrectiveRoute)
                raise DomainError(f"The corrective route must be one of {choices}.",
                                  field=FIELD_CORRECTIVE_ROUTE) from None
        elif chosen is Classification.SYSTEMIC:
            raise DomainError("A systemic pattern needs a proposed corrective route: joint "
                              "review, protocol revision, senior partner meeting or "
                              "commissioner intervention.", field=FIELD_CORRECTIVE_ROUTE)
        if not owner_id:
            raise DomainError("Name the executive owner who answers for the recovery.",
                              field=FIELD_OWNER)
        if review_due is None:
            raise DomainError("Give the review deadline.", field=FIELD_REVIEW_DUE)
        if review_due.tzinfo is None:
            raise ValueError("review_due must be timezone-aware")
        if review_due <= now:
            raise DomainError(f"The review deadline {review_due:%Y-%m-%d} has already passed: "
                              "choose a later date.", field=FIELD_REVIEW_DUE)
        typed = " ".join((contract_impact or "").split())
        if len(typed) > CONTRACT_IMPACT_LIMIT:
            typed = typed[: CONTRACT_IMPACT_LIMIT - 1] + "…"
        impact = typed or None
        with transaction(self._sessions) as s:
            row = tq.get_pattern(s, pattern_id=pattern_id, team_id=team_id)
            if row is None:
                raise DomainError("That systemic-pattern notice no longer exists.",
                                  field=FIELD_CLASSIFICATION)
            if row.classification:
                raise _already(row)
            evidence = {**row.evidence, "contract_impact": impact} if impact else None
            recorded = tq.classify_pattern(
                s, pattern_id=row.id, classification=chosen.value,
                corrective_route=route.value if route else None, owner_id=owner_id,
                review_due=review_due, classified_by=actor, classified_at=now,
                evidence=evidence)
            if not recorded:
                s.refresh(row)
                raise _already(row)
            after = {"classification": chosen.value,
                     "corrective_route": route.value if route else None,
                     "owner_id": owner_id, "review_due": review_due.isoformat(),
                     "contract_impact": impact}
            queries.add_event(
                s, record=None, team_id=row.team_id, at=now, actor=actor,
                kind="pattern_classified", field=f"systemic_pattern:{row.id}",
                before={key: None for key in after}, after=after,
                note=f"{row.evidence.get('partner', '')} · "
                     f"{route_label(row.route)}")
            if overridden:  # "Post anyway" on a likely name: the fields, never the words
                queries.add_event(
                    s, record=None, team_id=row.team_id, at=now, actor=actor,
                    kind="name_warning_overridden", field=f"systemic_pattern:{row.id}",
                    after={"fields": sorted(overridden)})
            s.refresh(row)
        if update_message:
            self.refresh_notice(pattern_id)
        return row

    def refresh_notice(self, pattern_id: int) -> None:
        """Re-render the notice in place from the database (after a classification)."""
        with self._sessions() as s:
            row = tq.get_pattern(s, pattern_id=pattern_id)
            if row is None or not row.channel_id or not row.message_ts:
                return
        try:
            self._delivery.update_notice(row)
        except Undelivered as exc:
            log.warning("could not update systemic-pattern notice %s: %s", pattern_id, exc)

    # --- /baton partner NAME ---

    def partner_figures(self, team_id: str, name: str) -> PartnerFigures:
        """One partner's figures, per route, over the rolling 30 and 90 days."""
        name = " ".join(name.split())
        if not name:
            raise DomainError("Which partner? `/baton partner NAME`, e.g. `/baton partner "
                              "Northside Home Care`.")
        now = self._clock.now()
        since = now - timedelta(days=max(WINDOWS))
        with self._sessions() as s:
            partner = tq.find_partner(s, team_id=team_id, name=name)
            if partner is None:
                matches = tq.partners_matching(s, team_id=team_id, name=name)
                if len(matches) == 1:
                    partner = matches[0]
                elif matches:
                    # DomainError's text is mrkdwn (bot/domain/quoting.py): names escaped.
                    listed = ", ".join(escaped(p.display_name) for p in matches[:5])
                    raise DomainError(f"{named(name, 60)} matches several partners: "
                                      f"{listed}. Give more of the name.")
                else:
                    known = tq.partner_names(s, team_id=team_id)
                    hint = (f" Known partners include {', '.join(escaped(n) for n in known)}."
                            if known else " No partner has been named on a record yet.")
                    raise DomainError(f"No partner agency called {named(name, 60)} in "
                                      f"this workspace.{hint}")
            facts = tq.record_facts(s, team_id=team_id, since=since, partner_id=partner.id)
            pages = tq.page_facts(s, team_id=team_id, since=since, partner_id=partner.id)
            patterns = tq.patterns_for_partner(s, team_id=team_id, partner_id=partner.id)
            display = partner.display_name
        return PartnerFigures(partner=display, totals=partner_totals(facts, pages, now=now),
                              trends=list(route_trends(facts, pages, now=now)),
                              patterns=list(patterns), now=now)


def _already(row: SystemicPattern) -> DomainError:
    label = Classification(row.classification).label if row.classification else "?"
    when = f" on {row.classified_at:%Y-%m-%d}" if row.classified_at else ""
    return DomainError(f"This pattern was already classified {label} by "
                       f"{mention(row.classified_by)}{when}. Nothing was changed.",
                       field=FIELD_CLASSIFICATION)

