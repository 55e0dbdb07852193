"""The accountable director's classification of a repeated route failure (seed 002,
Example 3): its choices, and the names of the inputs Governance.classify reads (the
classification modal's block ids are the same names, bot/slack/ids.py)."""

from __future__ import annotations

from enum import StrEnum

NO_ROUTE = "no route given"

# Governance.classify's arguments, and DomainError.field when one of them is at fault.
FIELD_CLASSIFICATION = "classification"
FIELD_CORRECTIVE_ROUTE = "corrective_route"
FIELD_OWNER = "owner_id"
FIELD_REVIEW_DUE = "review_due"
FIELD_CONTRACT_IMPACT = "contract_impact"


def route_label(route: str | None) -> str:
    return route or NO_ROUTE


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
