import datetime

from behalf.v1 import common_pb2 as _common_pb2
from behalf.v1 import events_pb2 as _events_pb2
from behalf.v1 import resources_pb2 as _resources_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateTenantRequest(_message.Message):
    __slots__ = ("name", "idempotency_key")
    NAME_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    idempotency_key: str
    def __init__(self, name: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class CreateTenantResponse(_message.Message):
    __slots__ = ("tenant", "admin_key", "admin_key_secret")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    ADMIN_KEY_FIELD_NUMBER: _ClassVar[int]
    ADMIN_KEY_SECRET_FIELD_NUMBER: _ClassVar[int]
    tenant: _resources_pb2.Tenant
    admin_key: _resources_pb2.ApiKey
    admin_key_secret: str
    def __init__(self, tenant: _Optional[_Union[_resources_pb2.Tenant, _Mapping]] = ..., admin_key: _Optional[_Union[_resources_pb2.ApiKey, _Mapping]] = ..., admin_key_secret: _Optional[str] = ...) -> None: ...

class GetTenantRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetTenantResponse(_message.Message):
    __slots__ = ("tenant", "revision")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    tenant: _resources_pb2.Tenant
    revision: int
    def __init__(self, tenant: _Optional[_Union[_resources_pb2.Tenant, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class CreateApiKeyRequest(_message.Message):
    __slots__ = ("name", "role", "idempotency_key", "test_mode_only", "agent_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    TEST_MODE_ONLY_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    role: _resources_pb2.Role
    idempotency_key: str
    test_mode_only: bool
    agent_id: str
    def __init__(self, name: _Optional[str] = ..., role: _Optional[_Union[_resources_pb2.Role, str]] = ..., idempotency_key: _Optional[str] = ..., test_mode_only: _Optional[bool] = ..., agent_id: _Optional[str] = ...) -> None: ...

class CreateApiKeyResponse(_message.Message):
    __slots__ = ("api_key", "secret", "revision")
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    api_key: _resources_pb2.ApiKey
    secret: str
    revision: int
    def __init__(self, api_key: _Optional[_Union[_resources_pb2.ApiKey, _Mapping]] = ..., secret: _Optional[str] = ..., revision: _Optional[int] = ...) -> None: ...

class ListApiKeysRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListApiKeysResponse(_message.Message):
    __slots__ = ("api_keys", "next_page_token")
    API_KEYS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    api_keys: _containers.RepeatedCompositeFieldContainer[_resources_pb2.ApiKey]
    next_page_token: str
    def __init__(self, api_keys: _Optional[_Iterable[_Union[_resources_pb2.ApiKey, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RevokeApiKeyRequest(_message.Message):
    __slots__ = ("key_id",)
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    def __init__(self, key_id: _Optional[str] = ...) -> None: ...

class RevokeApiKeyResponse(_message.Message):
    __slots__ = ("api_key", "revision")
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    api_key: _resources_pb2.ApiKey
    revision: int
    def __init__(self, api_key: _Optional[_Union[_resources_pb2.ApiKey, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class CreateAgentRequest(_message.Message):
    __slots__ = ("name", "kind", "description", "labels", "idempotency_key", "mode")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: _resources_pb2.AgentKind
    description: str
    labels: _containers.ScalarMap[str, str]
    idempotency_key: str
    mode: _resources_pb2.AgentMode
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[_resources_pb2.AgentKind, str]] = ..., description: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., idempotency_key: _Optional[str] = ..., mode: _Optional[_Union[_resources_pb2.AgentMode, str]] = ...) -> None: ...

class CreateAgentResponse(_message.Message):
    __slots__ = ("agent", "revision")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    agent: _resources_pb2.Agent
    revision: int
    def __init__(self, agent: _Optional[_Union[_resources_pb2.Agent, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class GetAgentRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class GetAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: _resources_pb2.Agent
    def __init__(self, agent: _Optional[_Union[_resources_pb2.Agent, _Mapping]] = ...) -> None: ...

class ListAgentsRequest(_message.Message):
    __slots__ = ("kind", "disabled", "labels", "page_size", "page_token")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KIND_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    kind: _resources_pb2.AgentKind
    disabled: bool
    labels: _containers.ScalarMap[str, str]
    page_size: int
    page_token: str
    def __init__(self, kind: _Optional[_Union[_resources_pb2.AgentKind, str]] = ..., disabled: _Optional[bool] = ..., labels: _Optional[_Mapping[str, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAgentsResponse(_message.Message):
    __slots__ = ("agents", "next_page_token")
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Agent]
    next_page_token: str
    def __init__(self, agents: _Optional[_Iterable[_Union[_resources_pb2.Agent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PropagationWait(_message.Message):
    __slots__ = ("enabled", "timeout")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    timeout: _duration_pb2.Duration
    def __init__(self, enabled: _Optional[bool] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class Propagation(_message.Message):
    __slots__ = ("all_acked", "acked_verifiers", "connected_verifiers")
    ALL_ACKED_FIELD_NUMBER: _ClassVar[int]
    ACKED_VERIFIERS_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_VERIFIERS_FIELD_NUMBER: _ClassVar[int]
    all_acked: bool
    acked_verifiers: int
    connected_verifiers: int
    def __init__(self, all_acked: _Optional[bool] = ..., acked_verifiers: _Optional[int] = ..., connected_verifiers: _Optional[int] = ...) -> None: ...

class UpdateAgentRequest(_message.Message):
    __slots__ = ("agent_id", "mode", "description", "labels", "replace_labels")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    REPLACE_LABELS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    mode: _resources_pb2.AgentMode
    description: str
    labels: _containers.ScalarMap[str, str]
    replace_labels: bool
    def __init__(self, agent_id: _Optional[str] = ..., mode: _Optional[_Union[_resources_pb2.AgentMode, str]] = ..., description: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., replace_labels: _Optional[bool] = ...) -> None: ...

class UpdateAgentResponse(_message.Message):
    __slots__ = ("agent", "revision")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    agent: _resources_pb2.Agent
    revision: int
    def __init__(self, agent: _Optional[_Union[_resources_pb2.Agent, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class DisableAgentRequest(_message.Message):
    __slots__ = ("agent_id", "wait")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    wait: PropagationWait
    def __init__(self, agent_id: _Optional[str] = ..., wait: _Optional[_Union[PropagationWait, _Mapping]] = ...) -> None: ...

class DisableAgentResponse(_message.Message):
    __slots__ = ("agent", "revision", "propagation")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    PROPAGATION_FIELD_NUMBER: _ClassVar[int]
    agent: _resources_pb2.Agent
    revision: int
    propagation: Propagation
    def __init__(self, agent: _Optional[_Union[_resources_pb2.Agent, _Mapping]] = ..., revision: _Optional[int] = ..., propagation: _Optional[_Union[Propagation, _Mapping]] = ...) -> None: ...

class EnableAgentRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class EnableAgentResponse(_message.Message):
    __slots__ = ("agent", "revision")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    agent: _resources_pb2.Agent
    revision: int
    def __init__(self, agent: _Optional[_Union[_resources_pb2.Agent, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class DeleteAgentRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class DeleteAgentResponse(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    def __init__(self, revision: _Optional[int] = ...) -> None: ...

class GrantPermissionRequest(_message.Message):
    __slots__ = ("agent_id", "template_name", "template_version", "allowed_actions", "blocked_actions", "resources", "max_amount", "budget", "not_before", "expires_at", "expires_in", "requires_approval", "idempotency_key")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_NAME_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_VERSION_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    MAX_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    template_name: str
    template_version: int
    allowed_actions: _containers.RepeatedScalarFieldContainer[str]
    blocked_actions: _containers.RepeatedScalarFieldContainer[str]
    resources: _containers.RepeatedScalarFieldContainer[str]
    max_amount: _common_pb2.Money
    budget: _common_pb2.Money
    not_before: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    expires_in: _duration_pb2.Duration
    requires_approval: bool
    idempotency_key: str
    def __init__(self, agent_id: _Optional[str] = ..., template_name: _Optional[str] = ..., template_version: _Optional[int] = ..., allowed_actions: _Optional[_Iterable[str]] = ..., blocked_actions: _Optional[_Iterable[str]] = ..., resources: _Optional[_Iterable[str]] = ..., max_amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., budget: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., not_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_in: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., requires_approval: _Optional[bool] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class GrantPermissionResponse(_message.Message):
    __slots__ = ("permission", "revision")
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    permission: _resources_pb2.Permission
    revision: int
    def __init__(self, permission: _Optional[_Union[_resources_pb2.Permission, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class RevokePermissionRequest(_message.Message):
    __slots__ = ("permission_id", "wait")
    PERMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    permission_id: str
    wait: PropagationWait
    def __init__(self, permission_id: _Optional[str] = ..., wait: _Optional[_Union[PropagationWait, _Mapping]] = ...) -> None: ...

class RevokePermissionResponse(_message.Message):
    __slots__ = ("permission", "revision", "propagation")
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    PROPAGATION_FIELD_NUMBER: _ClassVar[int]
    permission: _resources_pb2.Permission
    revision: int
    propagation: Propagation
    def __init__(self, permission: _Optional[_Union[_resources_pb2.Permission, _Mapping]] = ..., revision: _Optional[int] = ..., propagation: _Optional[_Union[Propagation, _Mapping]] = ...) -> None: ...

class GetPermissionRequest(_message.Message):
    __slots__ = ("permission_id",)
    PERMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    permission_id: str
    def __init__(self, permission_id: _Optional[str] = ...) -> None: ...

class GetPermissionResponse(_message.Message):
    __slots__ = ("permission",)
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    permission: _resources_pb2.Permission
    def __init__(self, permission: _Optional[_Union[_resources_pb2.Permission, _Mapping]] = ...) -> None: ...

class ListPermissionsRequest(_message.Message):
    __slots__ = ("agent_id", "include_inactive", "page_size", "page_token")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    include_inactive: bool
    page_size: int
    page_token: str
    def __init__(self, agent_id: _Optional[str] = ..., include_inactive: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPermissionsResponse(_message.Message):
    __slots__ = ("permissions", "next_page_token")
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    permissions: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Permission]
    next_page_token: str
    def __init__(self, permissions: _Optional[_Iterable[_Union[_resources_pb2.Permission, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ExportPassportRequest(_message.Message):
    __slots__ = ("agent_id", "valid_for")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    VALID_FOR_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    valid_for: _duration_pb2.Duration
    def __init__(self, agent_id: _Optional[str] = ..., valid_for: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ExportPassportResponse(_message.Message):
    __slots__ = ("document", "signature", "key_id", "public_key")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    document: bytes
    signature: str
    key_id: str
    public_key: str
    def __init__(self, document: _Optional[bytes] = ..., signature: _Optional[str] = ..., key_id: _Optional[str] = ..., public_key: _Optional[str] = ...) -> None: ...

class ListPassportKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PassportKey(_message.Message):
    __slots__ = ("key_id", "public_key", "algorithm")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    public_key: str
    algorithm: str
    def __init__(self, key_id: _Optional[str] = ..., public_key: _Optional[str] = ..., algorithm: _Optional[str] = ...) -> None: ...

class ListPassportKeysResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[PassportKey]
    def __init__(self, keys: _Optional[_Iterable[_Union[PassportKey, _Mapping]]] = ...) -> None: ...

class ListScopeTemplatesRequest(_message.Message):
    __slots__ = ("category", "all_versions")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    ALL_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    category: _common_pb2.ActionCategory
    all_versions: bool
    def __init__(self, category: _Optional[_Union[_common_pb2.ActionCategory, str]] = ..., all_versions: _Optional[bool] = ...) -> None: ...

class ListScopeTemplatesResponse(_message.Message):
    __slots__ = ("templates",)
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    templates: _containers.RepeatedCompositeFieldContainer[_resources_pb2.ScopeTemplate]
    def __init__(self, templates: _Optional[_Iterable[_Union[_resources_pb2.ScopeTemplate, _Mapping]]] = ...) -> None: ...

class GetScopeTemplateRequest(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetScopeTemplateResponse(_message.Message):
    __slots__ = ("template",)
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    template: _resources_pb2.ScopeTemplate
    def __init__(self, template: _Optional[_Union[_resources_pb2.ScopeTemplate, _Mapping]] = ...) -> None: ...

class ListApprovalsRequest(_message.Message):
    __slots__ = ("state", "agent_id", "page_size", "page_token")
    STATE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    state: _resources_pb2.ApprovalState
    agent_id: str
    page_size: int
    page_token: str
    def __init__(self, state: _Optional[_Union[_resources_pb2.ApprovalState, str]] = ..., agent_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListApprovalsResponse(_message.Message):
    __slots__ = ("approvals", "next_page_token")
    APPROVALS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    approvals: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Approval]
    next_page_token: str
    def __init__(self, approvals: _Optional[_Iterable[_Union[_resources_pb2.Approval, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetApprovalRequest(_message.Message):
    __slots__ = ("approval_id",)
    APPROVAL_ID_FIELD_NUMBER: _ClassVar[int]
    approval_id: str
    def __init__(self, approval_id: _Optional[str] = ...) -> None: ...

class GetApprovalResponse(_message.Message):
    __slots__ = ("approval",)
    APPROVAL_FIELD_NUMBER: _ClassVar[int]
    approval: _resources_pb2.Approval
    def __init__(self, approval: _Optional[_Union[_resources_pb2.Approval, _Mapping]] = ...) -> None: ...

class ResolveApprovalRequest(_message.Message):
    __slots__ = ("approval_id", "approve", "resolved_by", "comment")
    APPROVAL_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVE_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_BY_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    approval_id: str
    approve: bool
    resolved_by: str
    comment: str
    def __init__(self, approval_id: _Optional[str] = ..., approve: _Optional[bool] = ..., resolved_by: _Optional[str] = ..., comment: _Optional[str] = ...) -> None: ...

class ResolveApprovalResponse(_message.Message):
    __slots__ = ("approval", "revision")
    APPROVAL_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    approval: _resources_pb2.Approval
    revision: int
    def __init__(self, approval: _Optional[_Union[_resources_pb2.Approval, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class CreateWebhookEndpointRequest(_message.Message):
    __slots__ = ("url", "event_types", "description", "idempotency_key", "rate_limit_per_second")
    URL_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    url: str
    event_types: _containers.RepeatedScalarFieldContainer[str]
    description: str
    idempotency_key: str
    rate_limit_per_second: float
    def __init__(self, url: _Optional[str] = ..., event_types: _Optional[_Iterable[str]] = ..., description: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., rate_limit_per_second: _Optional[float] = ...) -> None: ...

class SetWebhookRateLimitRequest(_message.Message):
    __slots__ = ("endpoint_id", "rate_limit_per_second")
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    endpoint_id: str
    rate_limit_per_second: float
    def __init__(self, endpoint_id: _Optional[str] = ..., rate_limit_per_second: _Optional[float] = ...) -> None: ...

class SetWebhookRateLimitResponse(_message.Message):
    __slots__ = ("endpoint", "revision")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    endpoint: _resources_pb2.WebhookEndpoint
    revision: int
    def __init__(self, endpoint: _Optional[_Union[_resources_pb2.WebhookEndpoint, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class CreateWebhookEndpointResponse(_message.Message):
    __slots__ = ("endpoint", "signing_secret", "revision")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    SIGNING_SECRET_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    endpoint: _resources_pb2.WebhookEndpoint
    signing_secret: str
    revision: int
    def __init__(self, endpoint: _Optional[_Union[_resources_pb2.WebhookEndpoint, _Mapping]] = ..., signing_secret: _Optional[str] = ..., revision: _Optional[int] = ...) -> None: ...

class GetWebhookEndpointRequest(_message.Message):
    __slots__ = ("endpoint_id",)
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    endpoint_id: str
    def __init__(self, endpoint_id: _Optional[str] = ...) -> None: ...

class GetWebhookEndpointResponse(_message.Message):
    __slots__ = ("endpoint",)
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    endpoint: _resources_pb2.WebhookEndpoint
    def __init__(self, endpoint: _Optional[_Union[_resources_pb2.WebhookEndpoint, _Mapping]] = ...) -> None: ...

class ListWebhookEndpointsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListWebhookEndpointsResponse(_message.Message):
    __slots__ = ("endpoints", "next_page_token")
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    endpoints: _containers.RepeatedCompositeFieldContainer[_resources_pb2.WebhookEndpoint]
    next_page_token: str
    def __init__(self, endpoints: _Optional[_Iterable[_Union[_resources_pb2.WebhookEndpoint, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DisableWebhookEndpointRequest(_message.Message):
    __slots__ = ("endpoint_id",)
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    endpoint_id: str
    def __init__(self, endpoint_id: _Optional[str] = ...) -> None: ...

class DisableWebhookEndpointResponse(_message.Message):
    __slots__ = ("endpoint", "revision")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    endpoint: _resources_pb2.WebhookEndpoint
    revision: int
    def __init__(self, endpoint: _Optional[_Union[_resources_pb2.WebhookEndpoint, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class EnableWebhookEndpointRequest(_message.Message):
    __slots__ = ("endpoint_id",)
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    endpoint_id: str
    def __init__(self, endpoint_id: _Optional[str] = ...) -> None: ...

class EnableWebhookEndpointResponse(_message.Message):
    __slots__ = ("endpoint", "revision")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    endpoint: _resources_pb2.WebhookEndpoint
    revision: int
    def __init__(self, endpoint: _Optional[_Union[_resources_pb2.WebhookEndpoint, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class RotateWebhookSecretRequest(_message.Message):
    __slots__ = ("endpoint_id", "overlap")
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_FIELD_NUMBER: _ClassVar[int]
    endpoint_id: str
    overlap: _duration_pb2.Duration
    def __init__(self, endpoint_id: _Optional[str] = ..., overlap: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class RotateWebhookSecretResponse(_message.Message):
    __slots__ = ("endpoint", "signing_secret", "revision")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    SIGNING_SECRET_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    endpoint: _resources_pb2.WebhookEndpoint
    signing_secret: str
    revision: int
    def __init__(self, endpoint: _Optional[_Union[_resources_pb2.WebhookEndpoint, _Mapping]] = ..., signing_secret: _Optional[str] = ..., revision: _Optional[int] = ...) -> None: ...

class DeleteWebhookEndpointRequest(_message.Message):
    __slots__ = ("endpoint_id",)
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    endpoint_id: str
    def __init__(self, endpoint_id: _Optional[str] = ...) -> None: ...

class DeleteWebhookEndpointResponse(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    def __init__(self, revision: _Optional[int] = ...) -> None: ...

class ListDecisionsRequest(_message.Message):
    __slots__ = ("agent_id", "outcome", "reason_code", "start_time", "end_time", "request_id", "page_size", "page_token")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    outcome: _common_pb2.Outcome
    reason_code: _common_pb2.ReasonCode
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    request_id: str
    page_size: int
    page_token: str
    def __init__(self, agent_id: _Optional[str] = ..., outcome: _Optional[_Union[_common_pb2.Outcome, str]] = ..., reason_code: _Optional[_Union[_common_pb2.ReasonCode, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., request_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDecisionsResponse(_message.Message):
    __slots__ = ("decisions", "next_page_token")
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    decisions: _containers.RepeatedCompositeFieldContainer[_events_pb2.DecisionEvent]
    next_page_token: str
    def __init__(self, decisions: _Optional[_Iterable[_Union[_events_pb2.DecisionEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetDecisionRequest(_message.Message):
    __slots__ = ("request_id", "event_id", "approval_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    event_id: str
    approval_id: str
    def __init__(self, request_id: _Optional[str] = ..., event_id: _Optional[str] = ..., approval_id: _Optional[str] = ...) -> None: ...

class GetDecisionResponse(_message.Message):
    __slots__ = ("decision",)
    DECISION_FIELD_NUMBER: _ClassVar[int]
    decision: _events_pb2.DecisionEvent
    def __init__(self, decision: _Optional[_Union[_events_pb2.DecisionEvent, _Mapping]] = ...) -> None: ...

class CountDecisionsRequest(_message.Message):
    __slots__ = ("start_time", "end_time", "buckets", "agent_id", "reason_code")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    buckets: int
    agent_id: str
    reason_code: _common_pb2.ReasonCode
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., buckets: _Optional[int] = ..., agent_id: _Optional[str] = ..., reason_code: _Optional[_Union[_common_pb2.ReasonCode, str]] = ...) -> None: ...

class DecisionCount(_message.Message):
    __slots__ = ("bucket_start", "outcome", "count")
    BUCKET_START_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    bucket_start: _timestamp_pb2.Timestamp
    outcome: _common_pb2.Outcome
    count: int
    def __init__(self, bucket_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., outcome: _Optional[_Union[_common_pb2.Outcome, str]] = ..., count: _Optional[int] = ...) -> None: ...

class CountDecisionsResponse(_message.Message):
    __slots__ = ("counts",)
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    counts: _containers.RepeatedCompositeFieldContainer[DecisionCount]
    def __init__(self, counts: _Optional[_Iterable[_Union[DecisionCount, _Mapping]]] = ...) -> None: ...

class ListVerifiersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VerifierStatus(_message.Message):
    __slots__ = ("verifier_id", "acked_revision", "connect_time", "last_ack_time")
    VERIFIER_ID_FIELD_NUMBER: _ClassVar[int]
    ACKED_REVISION_FIELD_NUMBER: _ClassVar[int]
    CONNECT_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_ACK_TIME_FIELD_NUMBER: _ClassVar[int]
    verifier_id: str
    acked_revision: int
    connect_time: _timestamp_pb2.Timestamp
    last_ack_time: _timestamp_pb2.Timestamp
    def __init__(self, verifier_id: _Optional[str] = ..., acked_revision: _Optional[int] = ..., connect_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_ack_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListVerifiersResponse(_message.Message):
    __slots__ = ("verifiers", "current_revision")
    VERIFIERS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_REVISION_FIELD_NUMBER: _ClassVar[int]
    verifiers: _containers.RepeatedCompositeFieldContainer[VerifierStatus]
    current_revision: int
    def __init__(self, verifiers: _Optional[_Iterable[_Union[VerifierStatus, _Mapping]]] = ..., current_revision: _Optional[int] = ...) -> None: ...
