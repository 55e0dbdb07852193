"""Every action_id, callback_id and block_id in one place. manifest.yml's commands and the
registered listeners are checked against these by a test."""

from enum import StrEnum

# The classification modal's inputs: each block_id names the argument of Governance.classify
# it feeds (every input's action_id is INPUT); these and the choices are the domain's,
# re-exported so that every id is here. isort would split the `X as X` re-exports apart.
# isort: off
from bot.domain.governance import (
    FIELD_CLASSIFICATION as FIELD_CLASSIFICATION,
    FIELD_CONTRACT_IMPACT as FIELD_CONTRACT_IMPACT,
    FIELD_CORRECTIVE_ROUTE as FIELD_CORRECTIVE_ROUTE,
    FIELD_OWNER as FIELD_OWNER,
    FIELD_REVIEW_DUE as FIELD_REVIEW_DUE,
    Classification as Classification,
    CorrectiveRoute as CorrectiveRoute,
)
# isort: on

COMMANDS = ("/handoff", "/dependency", "/baton")


class ActionId(StrEnum):
    PARTNER_ACK = "record_partner_ack"
    RECORD_RESPONSE = "record_response_open"
    RESOLVE = "record_resolve_open"
    CANCEL = "record_cancel_open"
    PAGE_ACK = "page_acknowledge"
    INTERIM = "record_interim_open"
    ASSIGN_NEXT = "roster_assign_next_action"
    OPEN_FORM = "record_form_open"  # the form a late trigger_id could not open, with the draft
    EDIT = "record_edit_open"
    # The warning before posting (bot/slack/blocks/guard.py): what was typed rides on the value.
    GUARD_EDIT = "guard_edit"
    GUARD_PROCEED = "guard_proceed"
    GUARD_CANCEL = "guard_cancel"


class TrackerAction(StrEnum):
    """A tracker card's controls (bot/slack/blocks/trackers.py); the value names the
    tracker and step ids as JSON {"t": tracker_id, "s": step_id}."""

    STEP = "tracker_step"  # one per step: an overflow or buttons (done, blocked, na, refused)
    CONTACT = "tracker_contact_open"  # a provisional package's contact attempt
    IMPACT = "tracker_impact_open"  # the funding escalation's impact statement
    DECIDE = "tracker_decide_open"  # a decision waiting (funding, provisional package)
    PROCEED = "tracker_proceed"  # a transition's "the move goes ahead"
    START_FORM = "tracker_start_form_open"  # the start form a late trigger_id could not open


class TrackerView(StrEnum):
    START = "tracker_start"  # the form for what `/baton start` lacked
    STEP_REASON = "tracker_step_reason"  # blocked / not applicable / refused: the text
    CONTACT = "tracker_contact"
    IMPACT = "tracker_impact"
    DECIDE = "tracker_decide"


class ViewId(StrEnum):
    CREATE_HANDOFF = "create_handoff"
    CREATE_DEPENDENCY = "create_dependency"
    RESPONSE = "record_response"
    RESOLVE = "record_resolve"
    CANCEL = "record_cancel"
    INTERIM = "record_interim"
    EDIT = "record_edit"
    ASSIGN_NEXT = "roster_assign_next_action"


class GuardBlock(StrEnum):
    """The warning's blocks: in a reply, and added to a form shown again."""

    WARNING = "guard_warning"
    CHOICE = "guard_choice"
    CONFIRM = "guard_confirm"  # the form's "Post anyway" tick box


# Every input in Baton's modals uses this action_id; the block_id names the field.
INPUT = "value"

class GovernanceAction(StrEnum):
    """The notice's classification control: the button pressed prefills the modal."""

    CASE_LEVEL = "pattern_classify_case_level"
    SYSTEMIC = "pattern_classify_systemic"


class GovernanceView(StrEnum):
    CLASSIFY = "pattern_classify"


ACTIONS_BLOCK = "pattern"  # f"{ACTIONS_BLOCK}:{pattern_id}" on the notice's buttons
