import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTCOME_UNSPECIFIED: _ClassVar[Outcome]
    OUTCOME_ALLOW: _ClassVar[Outcome]
    OUTCOME_DENY: _ClassVar[Outcome]
    OUTCOME_REQUIRE_APPROVAL: _ClassVar[Outcome]

class ReasonCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REASON_CODE_UNSPECIFIED: _ClassVar[ReasonCode]
    REASON_CODE_ALLOWED: _ClassVar[ReasonCode]
    REASON_CODE_APPROVAL_CONSUMED: _ClassVar[ReasonCode]
    REASON_CODE_STALE_POLICY: _ClassVar[ReasonCode]
    REASON_CODE_AGENT_NOT_FOUND: _ClassVar[ReasonCode]
    REASON_CODE_AGENT_DISABLED: _ClassVar[ReasonCode]
    REASON_CODE_ACTION_BLOCKED: _ClassVar[ReasonCode]
    REASON_CODE_PERMISSION_EXPIRED: _ClassVar[ReasonCode]
    REASON_CODE_RESOURCE_NOT_ALLOWED: _ClassVar[ReasonCode]
    REASON_CODE_NO_PERMISSION: _ClassVar[ReasonCode]
    REASON_CODE_AMOUNT_REQUIRED: _ClassVar[ReasonCode]
    REASON_CODE_AMOUNT_EXCEEDS_LIMIT: _ClassVar[ReasonCode]
    REASON_CODE_CURRENCY_MISMATCH: _ClassVar[ReasonCode]
    REASON_CODE_BUDGET_EXHAUSTED: _ClassVar[ReasonCode]
    REASON_CODE_APPROVAL_REQUIRED: _ClassVar[ReasonCode]
    REASON_CODE_APPROVAL_INVALID: _ClassVar[ReasonCode]
    REASON_CODE_AUDIT_UNAVAILABLE: _ClassVar[ReasonCode]
    REASON_CODE_REGISTRY_UNAVAILABLE: _ClassVar[ReasonCode]
    REASON_CODE_PERMISSION_NOT_YET_VALID: _ClassVar[ReasonCode]
    REASON_CODE_REQUEST_ID_REUSED: _ClassVar[ReasonCode]

class Risk(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RISK_UNSPECIFIED: _ClassVar[Risk]
    RISK_LOW: _ClassVar[Risk]
    RISK_MEDIUM: _ClassVar[Risk]
    RISK_HIGH: _ClassVar[Risk]

class ActionCategory(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTION_CATEGORY_UNSPECIFIED: _ClassVar[ActionCategory]
    ACTION_CATEGORY_DATA_ACCESS: _ClassVar[ActionCategory]
    ACTION_CATEGORY_MESSAGING: _ClassVar[ActionCategory]
    ACTION_CATEGORY_SCHEDULING: _ClassVar[ActionCategory]
    ACTION_CATEGORY_TRANSACTIONS: _ClassVar[ActionCategory]
    ACTION_CATEGORY_CONTENT: _ClassVar[ActionCategory]
    ACTION_CATEGORY_ADMIN_WORKFLOWS: _ClassVar[ActionCategory]
OUTCOME_UNSPECIFIED: Outcome
OUTCOME_ALLOW: Outcome
OUTCOME_DENY: Outcome
OUTCOME_REQUIRE_APPROVAL: Outcome
REASON_CODE_UNSPECIFIED: ReasonCode
REASON_CODE_ALLOWED: ReasonCode
REASON_CODE_APPROVAL_CONSUMED: ReasonCode
REASON_CODE_STALE_POLICY: ReasonCode
REASON_CODE_AGENT_NOT_FOUND: ReasonCode
REASON_CODE_AGENT_DISABLED: ReasonCode
REASON_CODE_ACTION_BLOCKED: ReasonCode
REASON_CODE_PERMISSION_EXPIRED: ReasonCode
REASON_CODE_RESOURCE_NOT_ALLOWED: ReasonCode
REASON_CODE_NO_PERMISSION: ReasonCode
REASON_CODE_AMOUNT_REQUIRED: ReasonCode
REASON_CODE_AMOUNT_EXCEEDS_LIMIT: ReasonCode
REASON_CODE_CURRENCY_MISMATCH: ReasonCode
REASON_CODE_BUDGET_EXHAUSTED: ReasonCode
REASON_CODE_APPROVAL_REQUIRED: ReasonCode
REASON_CODE_APPROVAL_INVALID: ReasonCode
REASON_CODE_AUDIT_UNAVAILABLE: ReasonCode
REASON_CODE_REGISTRY_UNAVAILABLE: ReasonCode
REASON_CODE_PERMISSION_NOT_YET_VALID: ReasonCode
REASON_CODE_REQUEST_ID_REUSED: ReasonCode
RISK_UNSPECIFIED: Risk
RISK_LOW: Risk
RISK_MEDIUM: Risk
RISK_HIGH: Risk
ACTION_CATEGORY_UNSPECIFIED: ActionCategory
ACTION_CATEGORY_DATA_ACCESS: ActionCategory
ACTION_CATEGORY_MESSAGING: ActionCategory
ACTION_CATEGORY_SCHEDULING: ActionCategory
ACTION_CATEGORY_TRANSACTIONS: ActionCategory
ACTION_CATEGORY_CONTENT: ActionCategory
ACTION_CATEGORY_ADMIN_WORKFLOWS: ActionCategory

class Money(_message.Message):
    __slots__ = ("amount_minor", "currency")
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    amount_minor: int
    currency: str
    def __init__(self, amount_minor: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("request_id", "outcome", "reason_code", "reason", "risk", "permission_id", "policy_revision", "approval_id", "decide_time", "verifier_id", "test_mode")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RISK_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_REVISION_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_ID_FIELD_NUMBER: _ClassVar[int]
    DECIDE_TIME_FIELD_NUMBER: _ClassVar[int]
    VERIFIER_ID_FIELD_NUMBER: _ClassVar[int]
    TEST_MODE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    outcome: Outcome
    reason_code: ReasonCode
    reason: str
    risk: Risk
    permission_id: str
    policy_revision: int
    approval_id: str
    decide_time: _timestamp_pb2.Timestamp
    verifier_id: str
    test_mode: bool
    def __init__(self, request_id: _Optional[str] = ..., outcome: _Optional[_Union[Outcome, str]] = ..., reason_code: _Optional[_Union[ReasonCode, str]] = ..., reason: _Optional[str] = ..., risk: _Optional[_Union[Risk, str]] = ..., permission_id: _Optional[str] = ..., policy_revision: _Optional[int] = ..., approval_id: _Optional[str] = ..., decide_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., verifier_id: _Optional[str] = ..., test_mode: _Optional[bool] = ...) -> None: ...
