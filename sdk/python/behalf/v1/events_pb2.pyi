import datetime

from behalf.v1 import common_pb2 as _common_pb2
from behalf.v1 import resources_pb2 as _resources_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DecisionEvent(_message.Message):
    __slots__ = ("event_id", "tenant_id", "decision", "agent_id", "action", "resource", "amount", "context", "test_mode", "key_id")
    class ContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    TEST_MODE_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    tenant_id: str
    decision: _common_pb2.Decision
    agent_id: str
    action: str
    resource: str
    amount: _common_pb2.Money
    context: _containers.ScalarMap[str, str]
    test_mode: bool
    key_id: str
    def __init__(self, event_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., decision: _Optional[_Union[_common_pb2.Decision, _Mapping]] = ..., agent_id: _Optional[str] = ..., action: _Optional[str] = ..., resource: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., context: _Optional[_Mapping[str, str]] = ..., test_mode: _Optional[bool] = ..., key_id: _Optional[str] = ...) -> None: ...

class LifecycleEvent(_message.Message):
    __slots__ = ("event_id", "tenant_id", "type", "revision", "occur_time", "agent", "permission", "approval", "endpoint", "api_key")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    OCCUR_TIME_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    tenant_id: str
    type: str
    revision: int
    occur_time: _timestamp_pb2.Timestamp
    agent: _resources_pb2.Agent
    permission: _resources_pb2.Permission
    approval: _resources_pb2.Approval
    endpoint: _resources_pb2.WebhookEndpoint
    api_key: _resources_pb2.ApiKey
    def __init__(self, event_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., type: _Optional[str] = ..., revision: _Optional[int] = ..., occur_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., agent: _Optional[_Union[_resources_pb2.Agent, _Mapping]] = ..., permission: _Optional[_Union[_resources_pb2.Permission, _Mapping]] = ..., approval: _Optional[_Union[_resources_pb2.Approval, _Mapping]] = ..., endpoint: _Optional[_Union[_resources_pb2.WebhookEndpoint, _Mapping]] = ..., api_key: _Optional[_Union[_resources_pb2.ApiKey, _Mapping]] = ...) -> None: ...

class DeliveryTask(_message.Message):
    __slots__ = ("delivery_id", "webhook_id", "tenant_id", "endpoint_id", "event_id", "event_type", "payload", "attempt", "due_time")
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    DUE_TIME_FIELD_NUMBER: _ClassVar[int]
    delivery_id: str
    webhook_id: str
    tenant_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    payload: bytes
    attempt: int
    due_time: _timestamp_pb2.Timestamp
    def __init__(self, delivery_id: _Optional[str] = ..., webhook_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., endpoint_id: _Optional[str] = ..., event_id: _Optional[str] = ..., event_type: _Optional[str] = ..., payload: _Optional[bytes] = ..., attempt: _Optional[int] = ..., due_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
