"""Tracker templates from TOML: [template.NAME] tables in BATON_CONFIG over the built-in
defaults (bot/domain/tracker_templates.toml, itself the full documented example). Pure.

A config table with the name of a built-in template and no `steps` changes only the keys it
gives (say, who the funding escalation pages); with `steps` it replaces the template. A
mistake is one line naming the key (TemplateError), and `baton` exits 2 on it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

from bot.domain.ladder import Target
from bot.domain.times import parse_duration
from bot.domain.trackers import (
    AGENCIES,
    STEPS_PER_TRACKER,
    StepTemplate,
    Template,
    TrackerField,
    slug,
)


class TemplateError(ValueError):
    """A template in the config file is wrong; str() is one line naming the key."""


FIELD_KINDS = ("text", "time", "choice", "yes-no")
_TEMPLATE_KEYS = {
    "title", "anchor", "steps", "fields", "ladder", "closes_after", "period", "period_min",
    "period_max", "decision_choices", "contacts", "mismatch_field", "escalate_to",
    "decide_within", "urgent_field", "urgent", "proceed",
}
_STEP_KEYS = {"key", "name", "agency", "due", "gate", "group", "owner", "only_if", "due_field"}
_FIELD_KEYS = {"key", "label", "kind", "required", "choices"}
# A duration written in days or weeks only ("3d", "-14d", "P1W"): it keeps the wall-clock time
# across a daylight-saving change; anything with hours or minutes is elapsed time.
_DAYS_ONLY = re.compile(r"-?(?:\d+[wd])+|-?p(?:\d+[wd])+")


@dataclass(frozen=True)
class TemplateConfig:
    templates: dict[str, Template] = field(default_factory=dict)
    agencies: dict[str, str] = field(default_factory=lambda: dict(AGENCIES))

    def get(self, name: str) -> Template | None:
        return self.templates.get(slug(name))

    def agency_label(self, key: str) -> str:
        return self.agencies.get(key) or key.replace("-", " ").capitalize()


@lru_cache(maxsize=1)
def default_document() -> dict[str, Any]:
    text = resources.files("bot.domain").joinpath("tracker_templates.toml").read_text("utf-8")
    return tomllib.loads(text)


def default_templates() -> TemplateConfig:
    return parse_templates({})


def parse_templates(data: dict[str, Any]) -> TemplateConfig:
    """The templates of a parsed TOML document (its [template.*] and [agencies] tables)
    over the built-in defaults."""
    defaults = default_document()
    agencies = dict(AGENCIES)
    extra = data.get("agencies", {})
    if not isinstance(extra, dict):
        raise TemplateError("agencies: must be a table like { quality = \"Quality team\" }")
    for key, label in extra.items():
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,31}", str(key)):
            raise TemplateError(f"agencies.{key}: a key is lower-case letters, digits and "
                                "hyphens, like quality-team")
        if not isinstance(label, str) or not label.strip():
            raise TemplateError(f"agencies.{key}: give the agency's name as it should read, "
                                "e.g. \"Quality team\"")
        agencies[str(key)] = label.strip()
    raw = data.get("template", {})
    if not isinstance(raw, dict):
        raise TemplateError("template: must hold tables such as [template.discharge]")
    merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in defaults["template"].items()}
    for name, body in raw.items():
        if not isinstance(body, dict):
            raise TemplateError(f"template.{name}: must be a table")
        if name in merged and "steps" not in body:
            merged[name] = {**merged[name], **body}
        else:
            merged[name] = dict(body)
    ladders = data.get("ladder", {})
    known = frozenset({"default", *(ladders if isinstance(ladders, dict) else ())})
    templates = {}
    for name, body in merged.items():
        if slug(name) != name:
            raise TemplateError(f"template.{name}: a template's name is lower-case words "
                                f"joined by hyphens, like {slug(name) or 'health-change'}")
        replaced = name in defaults["template"] and "steps" in raw.get(name, {})
        templates[name] = _template(name, body, agencies, known, replaced=replaced)
    return TemplateConfig(templates, agencies)


def _str(body: dict[str, Any], key: str, base: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str) or (default is None and not value.strip()):
        raise TemplateError(f"{base}.{key}: must be text" + (
            "" if default is not None else ", and is required"))
    return value.strip()


def _dur(value: Any, key: str, *, signed: bool = False, positive: bool = False) -> timedelta:
    if not isinstance(value, str):
        raise TemplateError(f"{key}: must be a duration string like \"24h\" or \"3d\" "
                            f"(got {value!r})")
    text = value.strip()
    sign = 1
    if signed and text.startswith("-"):
        sign, text = -1, text[1:].strip()
    try:
        out = sign * parse_duration(text)
    except ValueError as exc:
        raise TemplateError(f"{key}: {exc}") from None
    if positive and out <= timedelta(0):
        raise TemplateError(f"{key}: must be longer than zero (got {value!r})")
    return out


def _targets(value: Any, key: str) -> tuple[Target, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise TemplateError(f"{key}: a list of page targets like [\"<@U0123>\", "
                            f"\"<!subteam^S0123>\", \"manager\"]")
    out = []
    for i, t in enumerate(items):
        try:
            out.append(Target.read(str(t)))
        except ValueError as exc:
            raise TemplateError(f"{key}[{i}]: {exc}") from None
    return tuple(out)


def _template(name: str, body: dict[str, Any], agencies: dict[str, str],
              ladders: frozenset[str], *, replaced: bool = False) -> Template:
    base = f"template.{name}"
    for k in body:
        if k not in _TEMPLATE_KEYS:
            raise TemplateError(f"{base}.{k}: unknown key (expected "
                                f"{', '.join(sorted(_TEMPLATE_KEYS))})")
    fields = _fields(body.get("fields", []), base)
    by_key = {f.key: f for f in fields}
    steps = _steps(body.get("steps"), base, agencies, by_key)
    if replaced:  # `steps` replaces a built-in template whole: say so if title is missing
        for k in ("title", "anchor"):
            if k not in body:
                raise TemplateError(f"{base}.{k}: required (a [{base}] with `steps` replaces "
                                    "the built-in template: give its title and anchor too)")
    ladder = _str(body, "ladder", base, "")
    if ladder and ladder not in ladders:
        raise TemplateError(f"{base}.ladder: no [ladder.{ladder}] in the config (have: "
                            f"{', '.join(sorted(ladders))})")
    for k in ("period_min", "period_max"):
        if k in body and "period" not in body:
            raise TemplateError(f"{base}.{k}: only with `period` (a provisional package's "
                                "length)")
    period = period_bounds = None
    if "period" in body:
        period = _dur(body["period"], f"{base}.period", positive=True)
        low = _dur(body.get("period_min", body["period"]), f"{base}.period_min")
        high = _dur(body.get("period_max", body["period"]), f"{base}.period_max")
        if not low <= period <= high:
            raise TemplateError(f"{base}.period: must lie between period_min and period_max")
        period_bounds = (low, high)
    choices = body.get("decision_choices", [])
    if not isinstance(choices, list) or not all(isinstance(c, str) and c.strip()
                                                  for c in choices):
        raise TemplateError(f"{base}.decision_choices: a list of words like "
                            "[\"funded\", \"escalated\"]")
    for key in ("mismatch_field", "urgent_field"):
        if key in body:
            want = "time" if key == "mismatch_field" else "yes-no"
            named = _str(body, key, base)
            if named not in by_key or by_key[named].kind != want:
                raise TemplateError(f"{base}.{key}: names no {want} field of this template "
                                    f"({named!r})")
    contacts = body.get("contacts", False)
    if not isinstance(contacts, bool):
        raise TemplateError(f"{base}.contacts: true or false")
    urgent = _targets(body["urgent"], f"{base}.urgent") if "urgent" in body else ()
    if body.get("urgent_field") and not urgent:
        raise TemplateError(f"{base}.urgent: name who an urgent change pages (urgent_field "
                            "is set)")
    if urgent and not body.get("urgent_field"):
        raise TemplateError(f"{base}.urgent_field: name the yes-no field that makes a "
                            "tracker urgent (urgent is set)")
    return Template(
        name=name, title=_str(body, "title", base), anchor=_str(body, "anchor", base),
        steps=steps, fields=fields, ladder=ladder,
        closes_after=_dur(body["closes_after"], f"{base}.closes_after", positive=True)
        if "closes_after" in body else None,
        period=period, period_bounds=period_bounds,
        decision_choices=tuple(c.strip() for c in choices), contacts=contacts,
        mismatch_field=str(body.get("mismatch_field", "")),
        escalate_to=_targets(body["escalate_to"], f"{base}.escalate_to")
        if "escalate_to" in body else (Target("manager"),),
        decide_within=_dur(body.get("decide_within", "2d"), f"{base}.decide_within"),
        urgent_field=str(body.get("urgent_field", "")), urgent=urgent,
        proceed=_str(body, "proceed", base, ""),
    )


def _table(value: Any, key: str, known: set[str]) -> None:
    """A [[…]] entry is a table of known keys; else one line naming the key."""
    if not isinstance(value, dict):
        raise TemplateError(f"{key}: must be a table")
    for k in value:
        if k not in known:
            raise TemplateError(f"{key}.{k}: unknown key (expected "
                                f"{', '.join(sorted(known))})")


def _fields(raw: Any, base: str) -> tuple[TrackerField, ...]:
    if not isinstance(raw, list):
        raise TemplateError(f"{base}.fields: must be a list of [[{base}.fields]] tables")
    out: list[TrackerField] = []
    for i, f in enumerate(raw):
        key = f"{base}.fields[{i}]"
        _table(f, key, _FIELD_KEYS)
        fkey = _str(f, "key", key)
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,31}", fkey):
            raise TemplateError(f"{key}.key: lower-case letters, digits and hyphens, typed "
                                f"as `{fkey}:` in /baton start")
        if any(o.key == fkey for o in out) or fkey in ("person", "at", "owner", "period"):
            raise TemplateError(f"{key}.key: {fkey!r} is used already")
        kind = f.get("kind", "text")
        if kind not in FIELD_KINDS:
            raise TemplateError(f"{key}.kind: one of {', '.join(FIELD_KINDS)} (got {kind!r})")
        choices = f.get("choices", [])
        if kind == "choice" and (not isinstance(choices, list) or not choices
                                 or not all(isinstance(c, str) for c in choices)):
            raise TemplateError(f"{key}.choices: a choice field needs a list of choices")
        required = f.get("required", True)
        if not isinstance(required, bool):
            raise TemplateError(f"{key}.required: true or false")
        out.append(TrackerField(fkey, _str(f, "label", key), kind, required,
                                tuple(str(c) for c in choices) if kind == "choice" else ()))
    return tuple(out)


def _steps(raw: Any, base: str, agencies: dict[str, str],
           fields: dict[str, TrackerField]) -> tuple[StepTemplate, ...]:
    if not isinstance(raw, list) or not raw:
        raise TemplateError(f"{base}.steps: at least one [[{base}.steps]] is needed")
    if len(raw) > STEPS_PER_TRACKER - 1:  # plan_steps keeps one place for a step added later
        raise TemplateError(f"{base}.steps: at most {STEPS_PER_TRACKER - 1} steps (has "
                            f"{len(raw)})")
    out: list[StepTemplate] = []
    for i, st in enumerate(raw):
        key = f"{base}.steps[{i}]"
        _table(st, key, _STEP_KEYS)
        name = _str(st, "name", key)
        skey = slug(str(st.get("key") or name))
        if not skey or skey.isdigit():
            raise TemplateError(f"{key}.key: give the step a word key, like medication-list")
        if any(o.key == skey for o in out):
            raise TemplateError(f"{key}.key: {skey!r} is used by another step")
        agency = _str(st, "agency", key)
        if agency not in agencies:
            raise TemplateError(f"{key}.agency: {agency!r} is not an agency (have: "
                                f"{', '.join(agencies)}; [agencies] adds more)")
        gate = st.get("gate", False)
        if not isinstance(gate, bool):
            raise TemplateError(f"{key}.gate: true or false")
        owner = _str(st, "owner", key, "")
        if owner and owner != "owner" and not re.fullmatch(r"<@[UW][A-Z0-9]+>", owner):
            raise TemplateError(f"{key}.owner: \"owner\" (the tracker's owner) or a user "
                                "<@U…>")
        only_if = _str(st, "only_if", key, "")
        if only_if and (only_if not in fields or fields[only_if].kind != "yes-no"):
            raise TemplateError(f"{key}.only_if: names no yes-no field ({only_if!r})")
        due_field = _str(st, "due_field", key, "")
        if due_field and (due_field not in fields or fields[due_field].kind != "time"):
            raise TemplateError(f"{key}.due_field: names no time field ({due_field!r})")
        due = st.get("due", "0m")
        out.append(StepTemplate(
            key=skey, name=name, agency=agency,
            due=_dur(due, f"{key}.due", signed=True), gate=gate,
            group=_str(st, "group", key, ""), owner=owner, only_if=only_if,
            due_field=due_field,
            elapsed=not _DAYS_ONLY.fullmatch("".join(str(due).split()).lower())))
    return tuple(out)
