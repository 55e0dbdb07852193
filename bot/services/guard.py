"""Checks before something is logged: likely person names in its free text
(bot/domain/names.py), and, for a new record, an open record for the same person and
partner. Either one stops the write with NeedsConfirmation, which says what was found;
nothing is saved until the person confirms (then the same call, with `confirmed`, goes
through and the choice is audited with the record).

One mechanism for every free-text write: logging (/handoff, /dependency and their forms),
responses, outcomes, cancellation reasons and interim actions; `/baton edit` calls
`Guard.names` for the fields it changes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from bot.domain.names import FREE_TEXT_FIELDS, name_lists, names_in_fields
from bot.domain.records import OPEN_STATUSES
from store import queries

NAMES = "names"  # a likely person name in free text
DUPLICATE = "duplicate"  # an open record for the same person and partner
CHOICES = (NAMES, DUPLICATE)


@dataclass(frozen=True)
class OpenRecord:
    """The open record a new one would repeat, as the warning names it."""

    reference: str
    kind: str
    partner: str
    person_ref: str
    channel_id: str
    card_channel: str | None
    card_ts: str | None


@dataclass(frozen=True)
class Findings:
    """What the checks found: {field: likely names in it}, and the open record repeated."""

    names: dict[str, list[str]] = field(default_factory=dict)
    duplicate: OpenRecord | None = None

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(k for k, found in ((NAMES, self.names), (DUPLICATE, self.duplicate))
                         if found)

    def __bool__(self) -> bool:
        return bool(self.kinds)

    def without(self, confirmed: Collection[str]) -> Findings:
        """What is left once the choices in `confirmed` are taken."""
        return Findings({} if NAMES in confirmed else self.names,
                        None if DUPLICATE in confirmed else self.duplicate)

    def describe(self) -> str:
        """For log lines and exceptions: field names and references, never the words found
        (they may be names)."""
        parts = []
        if self.names:
            parts.append(f"a likely person name in {', '.join(sorted(self.names))}")
        if self.duplicate:
            parts.append(f"an open record {self.duplicate.reference} for the same person "
                         "and partner")
        return "; ".join(parts) or "nothing"


class NeedsConfirmation(Exception):
    """The write was stopped before anything was saved: `findings` need the person's choice."""

    def __init__(self, findings: Findings) -> None:
        super().__init__(f"needs confirmation: {findings.describe()}")
        self.findings = findings


def read_choices(values: Iterable[str]) -> frozenset[str]:
    """The choices a button or a form carried back, the known ones only."""
    return frozenset(v for v in values if v in CHOICES)


class Guard:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory
        # The name lists (a quarter of a second, once a process) are read now, at start,
        # not inside the first form submission's 3 seconds.
        name_lists()

    def known_phrases(self, team_id: str) -> list[str]:
        """The workspace's partner directory: agency and service names never flagged."""
        with self._sessions() as s:
            return queries.partner_names(s, team_id=team_id)

    def names(self, team_id: str, fields: Mapping[str, str | None], *,
              known: Iterable[str] = (), only: Iterable[str] = FREE_TEXT_FIELDS,
              ) -> dict[str, list[str]]:
        """{field: likely person names} in the free-text fields among `fields`; the partner
        directory (and `known`) excused. The hook for any write of free text."""
        texts = {k: v for k, v in fields.items() if k in set(only) and v}
        if not texts:
            return {}
        return names_in_fields(texts, known_phrases=[*self.known_phrases(team_id), *known],
                               only=only)

    def open_record(self, team_id: str, *, person_ref: str, partner: str) -> OpenRecord | None:
        with self._sessions() as s:
            record = queries.open_record_for(s, team_id=team_id, person_ref=person_ref,
                                             partner=partner, statuses=sorted(OPEN_STATUSES))
            if record is None:
                return None
            return OpenRecord(record.reference, record.kind, record.partner.display_name,
                              record.person_ref, record.channel_id, record.card_channel,
                              record.card_ts)

    def check(self, team_id: str, fields: Mapping[str, str | None], *,
              confirmed: Collection[str] = (), known: Iterable[str] = (),
              person_ref: str | None = None, partner: str | None = None) -> Findings:
        """Raise NeedsConfirmation for what is found and not in `confirmed`; else return
        what was found and confirmed (to be audited with the write)."""
        found = Findings(self.names(team_id, fields, known=known))
        if person_ref and partner:
            found = Findings(found.names, self.open_record(team_id, person_ref=person_ref,
                                                           partner=partner))
        if found.without(confirmed):
            raise NeedsConfirmation(found)
        return found
