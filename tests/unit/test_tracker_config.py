"""Tracker templates: the built-in ones follow the seeds' words; BATON_CONFIG's
[template.NAME] and [agencies] tables change them; every mistake is one line naming its key.

The seeds' sentences are quoted here (seed files are not part of the repo): a template that
drifts from them fails below."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from bot.domain.ladder import Target
from bot.domain.tracker_config import (
    _STEP_KEYS,
    _TEMPLATE_KEYS,
    TemplateError,
    default_document,
    default_templates,
    parse_templates,
)
from bot.domain.trackers import AGENCIES, Template

# Seed 000, Example Two.
TRANSITION_GATES = ("confirmed move date, approved support plan, medication transfer process, "
                    "emergency contact list, transportation plan, staff assignment, "
                    "environmental risk check, and commissioner confirmation of funding start "
                    "date")
PROVIDER_OWNS = ("staff briefings, support plan preparation, medication storage setup, "
                 "personal inventory checks, and first-week observation notes")
# Seed 004, Example 2.
SPRINT = {
    "Day 0": ["discharge summary receipt pathway", "medication list", "immediate risks"],
    "Day 1": ["first visit and transportation", "home environment re-check",
              "equipment and assistive needs"],
    "Day 2–3": ["services active", "authorizations in place",
                "the participant understands the plan"],
}
# Seed 001: "Auditable validation must confirm: …"
SERVICE_CHANGE = ("change trigger, person impact, provider action, case manager notification, "
                  "funding review status, updated support plan, and follow-up date")
SERVICE_TRIGGERS = ("support need, staffing intensity, risk profile, medication support, "
                    "mobility, behavioral support, or family communication")
# Seed 000, Example One: "Required fields must include: …"
HEALTH_CHANGE = ("date of health change, source of information, immediate support impact, "
                 "staff instructions, case manager notification, family communication status, "
                 "follow-up responsibility, review date, and escalation threshold")
# Seed 003, Example 2.
PROVISIONAL = ("rapid welfare check, short-term care coordination contacts, medication "
               "reconciliation support, crisis/safety planning refresh, and scheduling of "
               "priority assessments")


def words(sentence: str) -> list[str]:
    """A seed's list, item by item."""
    return [w.strip().removeprefix("and ").removeprefix("or ").strip()
            for w in sentence.split(",")]


def norm(text: str) -> str:
    return " ".join(text.lower().replace("/", " and ").replace("-", " ").split())


def template(name: str) -> Template:
    found = default_templates().get(name)
    assert found is not None, name
    return found


def everything_said(t: Template) -> str:
    """All a template says: its anchor, fields' labels, steps' names."""
    return " | ".join([t.anchor, *(f.label for f in t.fields), *(s.name for s in t.steps)]
                      ).lower()


# --- the built-in templates ---


def test_the_five_builtin_templates_load():
    assert sorted(default_templates().templates) == [
        "discharge", "health-change", "provisional", "service-change", "transition"]


def test_transition_has_exactly_the_eight_gates_of_seed_000_and_the_provider_actions():
    t = template("transition")
    gates = [s.name.lower() for s in t.steps if s.gate]
    assert gates == words(TRANSITION_GATES)
    provider = {s.name.lower() for s in t.steps if not s.gate and s.agency == "provider"}
    assert provider == set(words(PROVIDER_OWNS))
    assert t.anchor == "move date" and t.proceed == "the move goes ahead"
    # The funding start date: a time field whose mismatch goes to the commissioner.
    field = t.field(t.mismatch_field)
    assert field is not None and field.kind == "time" and not field.required
    assert field.label == "Funding start date"
    assert t.decide_within == timedelta(days=2)
    # Every gate is due before the move; the first-week notes after it.
    assert all(s.due < timedelta(0) for s in t.steps if s.gate)
    assert t.step("first-week-notes").due == timedelta(days=7)
    # The seed's four kinds of owner are all there.
    assert {"provider", "case-management", "commissioner", "housing"} <= \
        {s.agency for s in t.steps}


def test_discharge_is_a_72_hour_sprint_in_day_0_1_and_2_3_groups():
    t = template("discharge")
    assert t.closes_after == timedelta(hours=72)
    groups: dict[str, list[str]] = {}
    for s in t.steps:
        groups.setdefault(s.group, []).append(s.name.lower())
    assert list(groups) == list(SPRINT)
    for group, wanted in SPRINT.items():
        assert len(groups[group]) == len(wanted), group
        for want, name in zip(wanted, groups[group], strict=True):
            assert want in name, (group, want, name)
    # Day 0 within the day, Day 1 the next day, Day 2–3 at the sprint's close.
    day = {s.group: s for s in t.steps}
    assert day["Day 0"].due < timedelta(days=1) and day["Day 0"].elapsed
    assert day["Day 1"].due == timedelta(days=1) and not day["Day 1"].elapsed
    assert all(s.due == t.closes_after and s.elapsed for s in t.steps if s.group == "Day 2–3")
    assert not any(s.gate for s in t.steps)


def test_service_change_records_what_seed_001_must_confirm():
    t = template("service-change")
    said = everything_said(t)
    for item in words(SERVICE_CHANGE):
        core = item.removesuffix(" date")  # the follow-up date: a field and the step's due
        assert core in said, item
    trigger = t.field("trigger")
    assert trigger is not None and trigger.kind == "choice"
    assert list(trigger.choices) == words(SERVICE_TRIGGERS)
    # Case manager always; the commissioner contact and the funding review only where
    # funding or service level may be affected.
    only = {s.key: s.only_if for s in t.steps}
    assert only["notify-case-manager"] == ""
    assert only["notify-commissioner"] == only["funding-review"] == "funding"
    funding = t.field("funding")
    assert funding is not None and funding.kind == "yes-no"
    assert t.step("follow-up").due_field == "follow-up"
    # Immediate risk pages every urgent target together.
    risk = t.field(t.urgent_field)
    assert risk is not None and risk.kind == "yes-no" and not risk.required
    assert len(t.urgent) >= 2


def test_health_change_has_the_nine_required_fields_between_anchor_fields_and_steps():
    t = template("health-change")
    said = everything_said(t)
    items = words(HEALTH_CHANGE)
    assert len(items) == 9
    for item in items:
        assert item.removesuffix(" status") in said, item
    assert t.anchor == "date of health change"
    assert {f.key for f in t.fields if f.required} == {
        "source", "impact", "instructions", "family", "review", "threshold"}
    # The interim control as staff instructions (a gate); the case manager's acknowledgement;
    # the quality lead's check within 24 hours, as its own step, in elapsed hours.
    assert t.step("instructions").gate
    assert "acknowledged" in t.step("case-manager").name
    check = t.step("quality-check")
    assert check.due == timedelta(hours=24) and check.elapsed
    assert "quality lead" in check.name.lower()
    assert t.step("review").due_field == "review"


def test_provisional_is_7_to_14_days_with_the_seed_003_contents():
    t = template("provisional")
    assert t.period == timedelta(days=14)
    assert t.period_bounds == (timedelta(days=7), timedelta(days=14))
    assert t.contacts and t.decision_choices == ("funded", "escalated")
    names = [norm(s.name) for s in t.steps]
    for item, name in zip(words(PROVISIONAL), names, strict=True):
        first = norm(item).split()[0]
        assert first in name, (item, name)


def test_every_builtin_step_names_a_known_agency_and_has_a_unique_key():
    for t in default_templates().templates.values():
        assert len({s.key for s in t.steps}) == len(t.steps), t.name
        assert {s.agency for s in t.steps} <= set(AGENCIES), t.name


# --- the config over the built-ins ---


def test_a_partial_override_without_steps_keeps_the_builtin_steps():
    cfg = parse_templates(tomllib.loads(
        '[template.transition]\nescalate_to = ["<@U0COMMISS1>", "<!subteam^S0OPS0001>"]\n'
        'decide_within = "3d"\n'))
    t = cfg.get("transition")
    assert t is not None
    assert t.steps == template("transition").steps
    assert t.escalate_to == (Target("user", "U0COMMISS1"), Target("usergroup", "S0OPS0001"))
    assert t.decide_within == timedelta(days=3)
    assert t.title == "Transition tracker"  # the rest as built in
    assert cfg.get("discharge") == template("discharge")


def test_a_new_template_and_an_agency_from_the_config():
    cfg = parse_templates(tomllib.loads('''
[agencies]
quality = "Quality team"

[template.falls-review]
title = "Falls review"
anchor = "fall time"

[[template.falls-review.fields]]
key = "injury"
label = "Injury"
kind = "yes-no"

[[template.falls-review.steps]]
name = "Quality review"
agency = "quality"
due = "2d"
[[template.falls-review.steps]]
key = "gp"
name = "GP follow-up"
agency = "health-partner"
due = "-1h"
only_if = "injury"
'''))
    t = cfg.get("Falls Review")  # looked up by its slug
    assert t is not None and t.title == "Falls review"
    assert [(s.key, s.agency, s.due, s.elapsed, s.only_if) for s in t.steps] == [
        ("quality-review", "quality", timedelta(days=2), False, ""),
        ("gp", "health-partner", timedelta(hours=-1), True, "injury")]
    assert cfg.agencies["quality"] == "Quality team"
    assert cfg.agency_label("quality") == "Quality team"
    assert cfg.agency_label("provider") == "Provider"
    assert len(cfg.templates) == 6  # the five built-ins are still there


def test_a_template_may_use_a_ladder_the_config_defines():
    cfg = parse_templates({"ladder": {"urgent": {}},
                           "template": {"discharge": {"ladder": "urgent"}}})
    assert cfg.get("discharge").ladder == "urgent"  # type: ignore[union-attr]


def test_the_packaged_toml_is_the_full_example_every_key_is_documented():
    text = resources.files("bot.domain").joinpath("tracker_templates.toml").read_text("utf-8")
    header = "\n".join(ln for ln in text.splitlines() if ln.startswith("#"))
    for key in (*_TEMPLATE_KEYS, *_STEP_KEYS):
        assert key in header, key
    assert default_document()["template"]


# --- one line naming the key ---


def _step(**kw: Any) -> dict[str, Any]:
    return {"title": "X", "anchor": "a", "steps": [{"name": "x", "agency": "provider", **kw}]}


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("unknown template key", {"template": {"discharge": {"close_after": "3d"}}},
     "template.discharge.close_after: unknown key"),
    ("unknown step key", {"template": {"x": _step(owner_agency="provider")}},
     "template.x.steps[0].owner_agency: unknown key"),
    ("unknown field key", {"template": {"x": {**_step(), "fields": [
        {"key": "a", "label": "A", "type": "text"}]}}}, "template.x.fields[0].type: unknown key"),
    ("bad agency", {"template": {"discharge": {"steps": [{"name": "x", "agency": "nowhere"}]}}},
     "template.discharge.steps[0].agency: 'nowhere' is not an agency"),
    ("bad duration", {"template": {"x": _step(due="soon")}},
     "template.x.steps[0].due: Couldn't read the duration “soon”"),
    ("duration not text", {"template": {"x": _step(due=3)}},
     "template.x.steps[0].due: must be a duration string"),
    ("negative sprint", {"template": {"discharge": {"closes_after": "-3d"}}},
     "template.discharge.closes_after: The duration “-3d” is negative"),
    ("zero sprint", {"template": {"discharge": {"closes_after": "0m"}}},
     "template.discharge.closes_after: must be longer than zero"),
    ("duplicate step key", {"template": {"x": {"title": "X", "anchor": "a", "steps": [
        {"name": "Home check", "agency": "provider"},
        {"name": "home check!", "agency": "housing"}]}}},
     "template.x.steps[1].key: 'home-check' is used by another step"),
    ("numeric step key", {"template": {"x": _step(key="12")}},
     "template.x.steps[0].key: give the step a word key"),
    ("no steps", {"template": {"x": {"title": "X", "anchor": "a"}}},
     "template.x.steps: at least one"),
    ("only_if not yes-no", {"template": {"service-change": {"steps": [
        {"name": "x", "agency": "provider", "only_if": "impact"}]}}},
     "template.service-change.steps[0].only_if: names no yes-no field ('impact')"),
    ("only_if unknown", {"template": {"x": _step(only_if="funding")}},
     "template.x.steps[0].only_if: names no yes-no field ('funding')"),
    ("due_field not time", {"template": {"x": {**_step(due_field="a"), "fields": [
        {"key": "a", "label": "A"}]}}},
     "template.x.steps[0].due_field: names no time field ('a')"),
    ("mismatch_field not time", {"template": {"transition": {"mismatch_field": "x"}}},
     "template.transition.mismatch_field: names no time field of this template ('x')"),
    ("urgent_field not yes-no", {"template": {"service-change": {"urgent_field": "impact"}}},
     "template.service-change.urgent_field: names no yes-no field of this template"),
    ("urgent_field without urgent", {"template": {"x": {**_step(), "urgent_field": "r",
                                                        "fields": [{"key": "r", "label": "R",
                                                                    "kind": "yes-no"}]}}},
     "template.x.urgent: name who an urgent change pages"),
    ("urgent without urgent_field", {"template": {"x": {**_step(), "urgent": ["manager"]}}},
     "template.x.urgent_field: name the yes-no field"),
    ("bad urgent target", {"template": {"service-change": {"urgent": ["manager", "ceo"]}}},
     "template.service-change.urgent[1]: page target “ceo” must be"),
    ("empty escalate_to", {"template": {"transition": {"escalate_to": []}}},
     "template.transition.escalate_to: a list of page targets"),
    ("period above bounds", {"template": {"provisional": {"period": "21d"}}},
     "template.provisional.period: must lie between period_min and period_max"),
    ("period below bounds", {"template": {"provisional": {"period": "3d"}}},
     "template.provisional.period: must lie between period_min and period_max"),
    ("period bound without period", {"template": {"x": {**_step(), "period_max": "9d"}}},
     "template.x.period_max: only with `period`"),
    ("unknown ladder", {"template": {"discharge": {"ladder": "urgnet"}}},
     "template.discharge.ladder: no [ladder.urgnet] in the config (have: default)"),
    ("bad owner", {"template": {"x": _step(owner="the nurse")}},
     "template.x.steps[0].owner: \"owner\" (the tracker's owner) or a user <@U…>"),
    ("gate not boolean", {"template": {"x": _step(gate="yes")}},
     "template.x.steps[0].gate: true or false"),
    ("contacts not boolean", {"template": {"provisional": {"contacts": "yes"}}},
     "template.provisional.contacts: true or false"),
    ("bad field kind", {"template": {"x": {**_step(), "fields": [
        {"key": "a", "label": "A", "kind": "date"}]}}},
     "template.x.fields[0].kind: one of text, time, choice, yes-no (got 'date')"),
    ("reserved field key", {"template": {"x": {**_step(), "fields": [
        {"key": "person", "label": "P"}]}}}, "template.x.fields[0].key: 'person' is used"),
    ("choice without choices", {"template": {"x": {**_step(), "fields": [
        {"key": "a", "label": "A", "kind": "choice"}]}}},
     "template.x.fields[0].choices: a choice field needs a list of choices"),
    ("new template without title", {"template": {"x": {"anchor": "a", "steps": [
        {"name": "x", "agency": "provider"}]}}}, "template.x.title: must be text"),
    ("replaced built-in without title", {"template": {"discharge": {"steps": [
        {"name": "x", "agency": "provider"}]}}},
     "template.discharge.title: required (a [template.discharge] with `steps` replaces"),
    ("template name", {"template": {"Falls Review": _step()}},
     "template.Falls Review: a template's name is lower-case words joined by hyphens, like "
     "falls-review"),
    ("template not a table", {"template": {"x": 3}}, "template.x: must be a table"),
    ("agency key", {"agencies": {"Quality Team": "Q"}}, "agencies.Quality Team: a key is"),
    ("agency label", {"agencies": {"quality": " "}}, "agencies.quality: give the agency's name"),
    ("agencies not a table", {"agencies": ["quality"]}, "agencies: must be a table"),
    # A step's number is its tracker's * 100 + its place, one place kept for the funding
    # decision: more steps would be refused by every /baton start, not at the config.
    ("too many steps", {"template": {"x": {"title": "X", "anchor": "a", "steps": [
        {"name": f"step {i}", "agency": "provider"} for i in range(99)]}}},
     "template.x.steps: at most 98 steps"),
]


@pytest.mark.parametrize("doc, says", [(d, s) for _, d, s in BAD], ids=[i for i, _, _ in BAD])
def test_a_bad_template_is_one_line_naming_its_key(doc, says):
    with pytest.raises(TemplateError) as caught:
        parse_templates(doc)
    line = str(caught.value)
    assert line.startswith(says), line
    assert "\n" not in line


def test_a_config_agency_is_accepted_where_a_builtin_is_not_enough():
    doc = {"template": {"x": _step()}}
    doc["template"]["x"]["steps"][0]["agency"] = "quality"
    with pytest.raises(TemplateError, match=r"\[agencies\] adds more"):
        parse_templates(doc)
    cfg = parse_templates({**doc, "agencies": {"quality": "Quality team"}})
    assert cfg.get("x").steps[0].agency == "quality"  # type: ignore[union-attr]


def test_the_readme_example_config_is_valid():
    """The README's "Templates in BATON_CONFIG" example parses, and does what it says."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Templates in BATON_CONFIG", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    cfg = parse_templates(tomllib.loads(example))
    falls = cfg.get("falls-review")
    assert falls is not None
    assert [(s.key, s.agency, s.elapsed, s.only_if, s.owner) for s in falls.steps] == [
        ("post-fall-observation", "provider", True, "", ""),
        ("gp", "health-partner", False, "injury", ""),
        ("quality-review", "quality", False, "", "<@U0QUALITY1>")]
    transition = cfg.get("transition")
    assert transition is not None and transition.steps == template("transition").steps
    assert transition.escalate_to == (Target("usergroup", "S0COMMISS1"),)
    assert len(cfg.get("service-change").urgent) == 3  # type: ignore[union-attr]
