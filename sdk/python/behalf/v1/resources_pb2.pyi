import datetime

from behalf.v1 import common_pb2 as _common_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_ADMIN: _ClassVar[Role]
    ROLE_VERIFY: _ClassVar[Role]
    ROLE_AUDIT_READ: _ClassVar[Role]

class AgentKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGENT_KIND_UNSPECIFIED: _ClassVar[AgentKind]
    AGENT_KIND_NATIVE: _ClassVar[AgentKind]
    AGENT_KIND_EXTERNAL: _ClassVar[AgentKind]

class AgentMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGENT_MODE_UNSPECIFIED: _ClassVar[AgentMode]
    AGENT_MODE_ENFORCED: _ClassVar[AgentMode]
    AGENT_MODE_TEST: _ClassVar[AgentMode]

class ApprovalState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPROVAL_STATE_UNSPECIFIED: _ClassVar[ApprovalState]
    APPROVAL_STATE_PENDING: _ClassVar[ApprovalState]
    APPROVAL_STATE_APPROVED: _ClassVar[ApprovalState]
    APPROVAL_STATE_DENIED: _ClassVar[ApprovalState]
    APPROVAL_STATE_EXPIRED: _ClassVar[ApprovalState]
    APPROVAL_STATE_CONSUMED: _ClassVar[ApprovalState]

class BreakerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BREAKER_STATE_UNSPECIFIED: _ClassVar[BreakerState]
    BREAKER_STATE_CLOSED: _ClassVar[BreakerState]
    BREAKER_STATE_HALF_OPEN: _ClassVar[BreakerState]
    BREAKER_STATE_OPEN: _ClassVar[BreakerState]
ROLE_UNSPECIFIED: Role
ROLE_ADMIN: Role
ROLE_VERIFY: Role
ROLE_AUDIT_READ: Role
AGENT_KIND_UNSPECIFIED: AgentKind
AGENT_KIND_NATIVE: AgentKind
AGENT_KIND_EXTERNAL: AgentKind
AGENT_MODE_UNSPECIFIED: AgentMode
AGENT_MODE_ENFORCED: AgentMode
AGENT_MODE_TEST: AgentMode
APPROVAL_STATE_UNSPECIFIED: ApprovalState
APPROVAL_STATE_PENDING: ApprovalState
APPROVAL_STATE_APPROVED: ApprovalState
APPROVAL_STATE_DENIED: ApprovalState
APPROVAL_STATE_EXPIRED: ApprovalState
APPROVAL_STATE_CONSUMED: ApprovalState
BREAKER_STATE_UNSPECIFIED: BreakerState
BREAKER_STATE_CLOSED: BreakerState
BREAKER_STATE_HALF_OPEN: BreakerState
BREAKER_STATE_OPEN: BreakerState

class Tenant(_message.Message):
    __slots__ = ("tenant_id", "name", "create_time")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    name: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, tenant_id: _Optional[str] = ..., name: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ApiKey(_message.Message):
    __slots__ = ("key_id", "tenant_id", "name", "role", "display_prefix", "create_time", "revoke_time", "test_mode_only", "agent_id")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_PREFIX_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    TEST_MODE_ONLY_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    tenant_id: str
    name: str
    role: Role
    display_prefix: str
    create_time: _timestamp_pb2.Timestamp
    revoke_time: _timestamp_pb2.Timestamp
    test_mode_only: bool
    agent_id: str
    def __init__(self, key_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., name: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., display_prefix: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., test_mode_only: _Optional[bool] = ..., agent_id: _Optional[str] = ...) -> None: ...

class Agent(_message.Message):
    __slots__ = ("agent_id", "tenant_id", "name", "kind", "description", "labels", "disabled", "create_time", "update_time", "revision", "mode")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    tenant_id: str
    name: str
    kind: AgentKind
    description: str
    labels: _containers.ScalarMap[str, str]
    disabled: bool
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    revision: int
    mode: AgentMode
    def __init__(self, agent_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., name: _Optional[str] = ..., kind: _Optional[_Union[AgentKind, str]] = ..., description: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., disabled: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revision: _Optional[int] = ..., mode: _Optional[_Union[AgentMode, str]] = ...) -> None: ...

class Permission(_message.Message):
    __slots__ = ("permission_id", "tenant_id", "agent_id", "allowed_actions", "blocked_actions", "resources", "max_amount", "budget", "budget_spent_minor", "not_before", "expires_at", "requires_approval", "revoked", "revoke_time", "template_name", "template_version", "category", "create_time", "revision")
    PERMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    MAX_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    BUDGET_SPENT_MINOR_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_NAME_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_VERSION_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    permission_id: str
    tenant_id: str
    agent_id: str
    allowed_actions: _containers.RepeatedScalarFieldContainer[str]
    blocked_actions: _containers.RepeatedScalarFieldContainer[str]
    resources: _containers.RepeatedScalarFieldContainer[str]
    max_amount: _common_pb2.Money
    budget: _common_pb2.Money
    budget_spent_minor: int
    not_before: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    requires_approval: bool
    revoked: bool
    revoke_time: _timestamp_pb2.Timestamp
    template_name: str
    template_version: int
    category: _common_pb2.ActionCategory
    create_time: _timestamp_pb2.Timestamp
    revision: int
    def __init__(self, permission_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., allowed_actions: _Optional[_Iterable[str]] = ..., blocked_actions: _Optional[_Iterable[str]] = ..., resources: _Optional[_Iterable[str]] = ..., max_amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., budget: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., budget_spent_minor: _Optional[int] = ..., not_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., requires_approval: _Optional[bool] = ..., revoked: _Optional[bool] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., template_name: _Optional[str] = ..., template_version: _Optional[int] = ..., category: _Optional[_Union[_common_pb2.ActionCategory, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class ScopeTemplate(_message.Message):
    __slots__ = ("name", "version", "category", "description", "allowed_actions", "blocked_actions", "default_risk", "resources_required", "amounts_apply", "default_requires_approval", "default_expires_in")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_RISK_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    AMOUNTS_APPLY_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_REQUIRES_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    category: _common_pb2.ActionCategory
    description: str
    allowed_actions: _containers.RepeatedScalarFieldContainer[str]
    blocked_actions: _containers.RepeatedScalarFieldContainer[str]
    default_risk: _common_pb2.Risk
    resources_required: bool
    amounts_apply: bool
    default_requires_approval: bool
    default_expires_in: _duration_pb2.Duration
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., category: _Optional[_Union[_common_pb2.ActionCategory, str]] = ..., description: _Optional[str] = ..., allowed_actions: _Optional[_Iterable[str]] = ..., blocked_actions: _Optional[_Iterable[str]] = ..., default_risk: _Optional[_Union[_common_pb2.Risk, str]] = ..., resources_required: _Optional[bool] = ..., amounts_apply: _Optional[bool] = ..., default_requires_approval: _Optional[bool] = ..., default_expires_in: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class Approval(_message.Message):
    __slots__ = ("approval_id", "tenant_id", "agent_id", "action", "resource", "amount", "permission_id", "state", "request_id", "create_time", "expire_time", "resolve_time", "resolved_by", "resolution_comment", "consume_time", "resolved_by_key_id")
    APPROVAL_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    RESOLVE_TIME_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_BY_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_COMMENT_FIELD_NUMBER: _ClassVar[int]
    CONSUME_TIME_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_BY_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    approval_id: str
    tenant_id: str
    agent_id: str
    action: str
    resource: str
    amount: _common_pb2.Money
    permission_id: str
    state: ApprovalState
    request_id: str
    create_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    resolve_time: _timestamp_pb2.Timestamp
    resolved_by: str
    resolution_comment: str
    consume_time: _timestamp_pb2.Timestamp
    resolved_by_key_id: str
    def __init__(self, approval_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., action: _Optional[str] = ..., resource: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., permission_id: _Optional[str] = ..., state: _Optional[_Union[ApprovalState, str]] = ..., request_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolve_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolved_by: _Optional[str] = ..., resolution_comment: _Optional[str] = ..., consume_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolved_by_key_id: _Optional[str] = ...) -> None: ...

class WebhookEndpoint(_message.Message):
    __slots__ = ("endpoint_id", "tenant_id", "url", "event_types", "disabled", "description", "create_time", "secret_rotate_time", "previous_secret_expire_time", "rate_limit_per_second", "health")
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SECRET_ROTATE_TIME_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_SECRET_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    endpoint_id: str
    tenant_id: str
    url: str
    event_types: _containers.RepeatedScalarFieldContainer[str]
    disabled: bool
    description: str
    create_time: _timestamp_pb2.Timestamp
    secret_rotate_time: _timestamp_pb2.Timestamp
    previous_secret_expire_time: _timestamp_pb2.Timestamp
    rate_limit_per_second: float
    health: WebhookEndpointHealth
    def __init__(self, endpoint_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., url: _Optional[str] = ..., event_types: _Optional[_Iterable[str]] = ..., disabled: _Optional[bool] = ..., description: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., secret_rotate_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., previous_secret_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rate_limit_per_second: _Optional[float] = ..., health: _Optional[_Union[WebhookEndpointHealth, _Mapping]] = ...) -> None: ...

class WebhookEndpointHealth(_message.Message):
    __slots__ = ("attempts", "successes", "success_rate", "last_error", "last_error_status_code", "last_error_time", "last_success_time", "breaker_state", "window_seconds", "report_time")
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    SUCCESSES_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_RATE_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_SUCCESS_TIME_FIELD_NUMBER: _ClassVar[int]
    BREAKER_STATE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REPORT_TIME_FIELD_NUMBER: _ClassVar[int]
    attempts: int
    successes: int
    success_rate: float
    last_error: str
    last_error_status_code: int
    last_error_time: _timestamp_pb2.Timestamp
    last_success_time: _timestamp_pb2.Timestamp
    breaker_state: BreakerState
    window_seconds: int
    report_time: _timestamp_pb2.Timestamp
    def __init__(self, attempts: _Optional[int] = ..., successes: _Optional[int] = ..., success_rate: _Optional[float] = ..., last_error: _Optional[str] = ..., last_error_status_code: _Optional[int] = ..., last_error_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_success_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., breaker_state: _Optional[_Union[BreakerState, str]] = ..., window_seconds: _Optional[int] = ..., report_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
