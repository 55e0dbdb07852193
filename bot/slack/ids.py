"""Every action_id, callback_id and block_id in one place. manifest.yml's commands and the
registered listeners are checked against these by a test."""

from enum import StrEnum

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


class ViewId(StrEnum):
    CREATE_HANDOFF = "create_handoff"
    CREATE_DEPENDENCY = "create_dependency"
    RESPONSE = "record_response"
    RESOLVE = "record_resolve"
    CANCEL = "record_cancel"
    INTERIM = "record_interim"
    ASSIGN_NEXT = "roster_assign_next_action"


# Every input in Baton's modals uses this action_id; the block_id names the field.
INPUT = "value"

class GovernanceAction(StrEnum):
    """The notice's classification control: the button pressed prefills the modal."""

    CASE_LEVEL = "pattern_classify_case_level"
    SYSTEMIC = "pattern_classify_systemic"


class GovernanceView(StrEnum):
    CLASSIFY = "pattern_classify"


class Classification(StrEnum):
    """The accountable director's reading of a repeated route failure (seed 002, Ex. 3)."""

    CASE_LEVEL = "case-level"
    SYSTEMIC = "systemic"

    @property
    def label(self) -> str:
        return {"case-level": "Case-level", "systemic": "Systemic"}[self.value]


class CorrectiveRoute(StrEnum):
    """The proposed corrective routes the seed names for a pathway recovery action plan."""

    JOINT_REVIEW = "joint_review"
    PROTOCOL_REVISION = "protocol_revision"
    SENIOR_PARTNER_MEETING = "senior_partner_meeting"
    COMMISSIONER_INTERVENTION = "commissioner_intervention"

    @property
    def label(self) -> str:
        return {
            "joint_review": "Joint review",
            "protocol_revision": "Protocol revision",
            "senior_partner_meeting": "Senior partner meeting",
            "commissioner_intervention": "Commissioner intervention",
        }[self.value]


# The classification modal's inputs: the block_id names the field (and the argument of
# Governance.classify it feeds); every input's action_id is bot.ids.INPUT.
FIELD_CLASSIFICATION = "classification"
FIELD_CORRECTIVE_ROUTE = "corrective_route"
FIELD_OWNER = "owner_id"
FIELD_REVIEW_DUE = "review_due"
FIELD_CONTRACT_IMPACT = "contract_impact"

ACTIONS_BLOCK = "pattern"  # f"{ACTIONS_BLOCK}:{pattern_id}" on the notice's buttons
