import datetime

from behalf.v1 import common_pb2 as _common_pb2
from behalf.v1 import resources_pb2 as _resources_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WatchPolicyRequest(_message.Message):
    __slots__ = ("hello", "ack")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    hello: WatchHello
    ack: WatchAck
    def __init__(self, hello: _Optional[_Union[WatchHello, _Mapping]] = ..., ack: _Optional[_Union[WatchAck, _Mapping]] = ...) -> None: ...

class WatchHello(_message.Message):
    __slots__ = ("verifier_id", "accepts_delta_parts")
    VERIFIER_ID_FIELD_NUMBER: _ClassVar[int]
    ACCEPTS_DELTA_PARTS_FIELD_NUMBER: _ClassVar[int]
    verifier_id: str
    accepts_delta_parts: bool
    def __init__(self, verifier_id: _Optional[str] = ..., accepts_delta_parts: _Optional[bool] = ...) -> None: ...

class WatchAck(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    def __init__(self, revision: _Optional[int] = ...) -> None: ...

class WatchPolicyResponse(_message.Message):
    __slots__ = ("snapshot_chunk", "delta", "heartbeat")
    SNAPSHOT_CHUNK_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    snapshot_chunk: PolicySnapshotChunk
    delta: PolicyDelta
    heartbeat: WatchHeartbeat
    def __init__(self, snapshot_chunk: _Optional[_Union[PolicySnapshotChunk, _Mapping]] = ..., delta: _Optional[_Union[PolicyDelta, _Mapping]] = ..., heartbeat: _Optional[_Union[WatchHeartbeat, _Mapping]] = ...) -> None: ...

class PolicySnapshotChunk(_message.Message):
    __slots__ = ("revision", "agents", "permissions", "last", "api_keys")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    API_KEYS_FIELD_NUMBER: _ClassVar[int]
    revision: int
    agents: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Agent]
    permissions: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Permission]
    last: bool
    api_keys: _containers.RepeatedCompositeFieldContainer[ApiKeyCredential]
    def __init__(self, revision: _Optional[int] = ..., agents: _Optional[_Iterable[_Union[_resources_pb2.Agent, _Mapping]]] = ..., permissions: _Optional[_Iterable[_Union[_resources_pb2.Permission, _Mapping]]] = ..., last: _Optional[bool] = ..., api_keys: _Optional[_Iterable[_Union[ApiKeyCredential, _Mapping]]] = ...) -> None: ...

class ApiKeyCredential(_message.Message):
    __slots__ = ("key_id", "tenant_id", "role", "secret_sha256", "revoked", "test_mode_only", "agent_id")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    SECRET_SHA256_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    TEST_MODE_ONLY_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    tenant_id: str
    role: _resources_pb2.Role
    secret_sha256: bytes
    revoked: bool
    test_mode_only: bool
    agent_id: str
    def __init__(self, key_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., role: _Optional[_Union[_resources_pb2.Role, str]] = ..., secret_sha256: _Optional[bytes] = ..., revoked: _Optional[bool] = ..., test_mode_only: _Optional[bool] = ..., agent_id: _Optional[str] = ...) -> None: ...

class PolicyDelta(_message.Message):
    __slots__ = ("revision", "tenant_id", "changes", "continued")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    CONTINUED_FIELD_NUMBER: _ClassVar[int]
    revision: int
    tenant_id: str
    changes: _containers.RepeatedCompositeFieldContainer[PolicyChange]
    continued: bool
    def __init__(self, revision: _Optional[int] = ..., tenant_id: _Optional[str] = ..., changes: _Optional[_Iterable[_Union[PolicyChange, _Mapping]]] = ..., continued: _Optional[bool] = ...) -> None: ...

class PolicyChange(_message.Message):
    __slots__ = ("agent_upserted", "agent_deleted", "permission_upserted", "permission_deleted", "api_key_upserted")
    AGENT_UPSERTED_FIELD_NUMBER: _ClassVar[int]
    AGENT_DELETED_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_UPSERTED_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_DELETED_FIELD_NUMBER: _ClassVar[int]
    API_KEY_UPSERTED_FIELD_NUMBER: _ClassVar[int]
    agent_upserted: _resources_pb2.Agent
    agent_deleted: str
    permission_upserted: _resources_pb2.Permission
    permission_deleted: str
    api_key_upserted: ApiKeyCredential
    def __init__(self, agent_upserted: _Optional[_Union[_resources_pb2.Agent, _Mapping]] = ..., agent_deleted: _Optional[str] = ..., permission_upserted: _Optional[_Union[_resources_pb2.Permission, _Mapping]] = ..., permission_deleted: _Optional[str] = ..., api_key_upserted: _Optional[_Union[ApiKeyCredential, _Mapping]] = ...) -> None: ...

class WatchHeartbeat(_message.Message):
    __slots__ = ("revision", "server_time")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIME_FIELD_NUMBER: _ClassVar[int]
    revision: int
    server_time: _timestamp_pb2.Timestamp
    def __init__(self, revision: _Optional[int] = ..., server_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReserveBudgetRequest(_message.Message):
    __slots__ = ("tenant_id", "permission_id", "amount", "request_id", "agent_id", "action", "resource")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    permission_id: str
    amount: _common_pb2.Money
    request_id: str
    agent_id: str
    action: str
    resource: str
    def __init__(self, tenant_id: _Optional[str] = ..., permission_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., request_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., action: _Optional[str] = ..., resource: _Optional[str] = ...) -> None: ...

class CheckBudgetRequest(_message.Message):
    __slots__ = ("tenant_id", "permission_id", "amount")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    permission_id: str
    amount: _common_pb2.Money
    def __init__(self, tenant_id: _Optional[str] = ..., permission_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class CheckBudgetResponse(_message.Message):
    __slots__ = ("fits", "remaining")
    FITS_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    fits: bool
    remaining: _common_pb2.Money
    def __init__(self, fits: _Optional[bool] = ..., remaining: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class ReserveBudgetResponse(_message.Message):
    __slots__ = ("reserved", "remaining", "claim")
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    CLAIM_FIELD_NUMBER: _ClassVar[int]
    reserved: bool
    remaining: _common_pb2.Money
    claim: str
    def __init__(self, reserved: _Optional[bool] = ..., remaining: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., claim: _Optional[str] = ...) -> None: ...

class ReleaseBudgetRequest(_message.Message):
    __slots__ = ("tenant_id", "permission_id", "request_id", "claim")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CLAIM_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    permission_id: str
    request_id: str
    claim: str
    def __init__(self, tenant_id: _Optional[str] = ..., permission_id: _Optional[str] = ..., request_id: _Optional[str] = ..., claim: _Optional[str] = ...) -> None: ...

class ReleaseBudgetResponse(_message.Message):
    __slots__ = ("released",)
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    released: bool
    def __init__(self, released: _Optional[bool] = ...) -> None: ...

class CreateApprovalRequest(_message.Message):
    __slots__ = ("tenant_id", "agent_id", "action", "resource", "amount", "permission_id", "request_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    agent_id: str
    action: str
    resource: str
    amount: _common_pb2.Money
    permission_id: str
    request_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., action: _Optional[str] = ..., resource: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., permission_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateApprovalResponse(_message.Message):
    __slots__ = ("approval",)
    APPROVAL_FIELD_NUMBER: _ClassVar[int]
    approval: _resources_pb2.Approval
    def __init__(self, approval: _Optional[_Union[_resources_pb2.Approval, _Mapping]] = ...) -> None: ...

class ConsumeApprovalRequest(_message.Message):
    __slots__ = ("tenant_id", "approval_id", "agent_id", "action", "resource", "amount", "request_id", "permission_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    approval_id: str
    agent_id: str
    action: str
    resource: str
    amount: _common_pb2.Money
    request_id: str
    permission_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., approval_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., action: _Optional[str] = ..., resource: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., request_id: _Optional[str] = ..., permission_id: _Optional[str] = ...) -> None: ...

class ConsumeApprovalResponse(_message.Message):
    __slots__ = ("consumed", "state")
    CONSUMED_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    consumed: bool
    state: _resources_pb2.ApprovalState
    def __init__(self, consumed: _Optional[bool] = ..., state: _Optional[_Union[_resources_pb2.ApprovalState, str]] = ...) -> None: ...

class ListWebhookTargetsRequest(_message.Message):
    __slots__ = ("tenant_id",)
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    def __init__(self, tenant_id: _Optional[str] = ...) -> None: ...

class WebhookTarget(_message.Message):
    __slots__ = ("endpoint", "signing_secrets")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    SIGNING_SECRETS_FIELD_NUMBER: _ClassVar[int]
    endpoint: _resources_pb2.WebhookEndpoint
    signing_secrets: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, endpoint: _Optional[_Union[_resources_pb2.WebhookEndpoint, _Mapping]] = ..., signing_secrets: _Optional[_Iterable[str]] = ...) -> None: ...

class ListWebhookTargetsResponse(_message.Message):
    __slots__ = ("targets",)
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    targets: _containers.RepeatedCompositeFieldContainer[WebhookTarget]
    def __init__(self, targets: _Optional[_Iterable[_Union[WebhookTarget, _Mapping]]] = ...) -> None: ...

class AuthenticateApiKeyRequest(_message.Message):
    __slots__ = ("api_key",)
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    api_key: str
    def __init__(self, api_key: _Optional[str] = ...) -> None: ...

class AuthenticateApiKeyResponse(_message.Message):
    __slots__ = ("key_id", "tenant_id", "role")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    tenant_id: str
    role: _resources_pb2.Role
    def __init__(self, key_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., role: _Optional[_Union[_resources_pb2.Role, str]] = ...) -> None: ...

class SuspendWebhookEndpointRequest(_message.Message):
    __slots__ = ("tenant_id", "endpoint_id", "reason")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    endpoint_id: str
    reason: str
    def __init__(self, tenant_id: _Optional[str] = ..., endpoint_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class SuspendWebhookEndpointResponse(_message.Message):
    __slots__ = ("endpoint", "revision")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    endpoint: _resources_pb2.WebhookEndpoint
    revision: int
    def __init__(self, endpoint: _Optional[_Union[_resources_pb2.WebhookEndpoint, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class ReportWebhookHealthRequest(_message.Message):
    __slots__ = ("dispatcher_id", "endpoints")
    DISPATCHER_ID_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    dispatcher_id: str
    endpoints: _containers.RepeatedCompositeFieldContainer[EndpointHealthReport]
    def __init__(self, dispatcher_id: _Optional[str] = ..., endpoints: _Optional[_Iterable[_Union[EndpointHealthReport, _Mapping]]] = ...) -> None: ...

class EndpointHealthReport(_message.Message):
    __slots__ = ("tenant_id", "endpoint_id", "health")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    endpoint_id: str
    health: _resources_pb2.WebhookEndpointHealth
    def __init__(self, tenant_id: _Optional[str] = ..., endpoint_id: _Optional[str] = ..., health: _Optional[_Union[_resources_pb2.WebhookEndpointHealth, _Mapping]] = ...) -> None: ...

class ReportWebhookHealthResponse(_message.Message):
    __slots__ = ("accepted",)
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    def __init__(self, accepted: _Optional[int] = ...) -> None: ...
