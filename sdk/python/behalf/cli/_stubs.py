"""Typed views of the generated gRPC stubs the CLI calls (blocking channels).

grpc_tools generates `*_pb2_grpc` modules without types; each view names the methods the CLI
calls with their request and response messages, and a typed constructor builds the generated
stub behind it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import grpc

from behalf.v1 import dispatcher_pb2, dispatcher_pb2_grpc, registry_pb2, registry_pb2_grpc

__all__ = ["DispatcherStub", "RegistryStub", "dispatcher_stub", "registry_stub"]


class RegistryStub(Protocol):
    """The `behalf.v1.RegistryService` methods the CLI calls."""

    CreateAgent: grpc.UnaryUnaryMultiCallable[
        registry_pb2.CreateAgentRequest, registry_pb2.CreateAgentResponse
    ]
    CreateApiKey: grpc.UnaryUnaryMultiCallable[
        registry_pb2.CreateApiKeyRequest, registry_pb2.CreateApiKeyResponse
    ]
    CreateTenant: grpc.UnaryUnaryMultiCallable[
        registry_pb2.CreateTenantRequest, registry_pb2.CreateTenantResponse
    ]
    CreateWebhookEndpoint: grpc.UnaryUnaryMultiCallable[
        registry_pb2.CreateWebhookEndpointRequest, registry_pb2.CreateWebhookEndpointResponse
    ]
    DisableAgent: grpc.UnaryUnaryMultiCallable[
        registry_pb2.DisableAgentRequest, registry_pb2.DisableAgentResponse
    ]
    DisableWebhookEndpoint: grpc.UnaryUnaryMultiCallable[
        registry_pb2.DisableWebhookEndpointRequest, registry_pb2.DisableWebhookEndpointResponse
    ]
    EnableAgent: grpc.UnaryUnaryMultiCallable[
        registry_pb2.EnableAgentRequest, registry_pb2.EnableAgentResponse
    ]
    EnableWebhookEndpoint: grpc.UnaryUnaryMultiCallable[
        registry_pb2.EnableWebhookEndpointRequest, registry_pb2.EnableWebhookEndpointResponse
    ]
    ExportPassport: grpc.UnaryUnaryMultiCallable[
        registry_pb2.ExportPassportRequest, registry_pb2.ExportPassportResponse
    ]
    GetAgent: grpc.UnaryUnaryMultiCallable[
        registry_pb2.GetAgentRequest, registry_pb2.GetAgentResponse
    ]
    GetApproval: grpc.UnaryUnaryMultiCallable[
        registry_pb2.GetApprovalRequest, registry_pb2.GetApprovalResponse
    ]
    GetPermission: grpc.UnaryUnaryMultiCallable[
        registry_pb2.GetPermissionRequest, registry_pb2.GetPermissionResponse
    ]
    GetScopeTemplate: grpc.UnaryUnaryMultiCallable[
        registry_pb2.GetScopeTemplateRequest, registry_pb2.GetScopeTemplateResponse
    ]
    GetTenant: grpc.UnaryUnaryMultiCallable[
        registry_pb2.GetTenantRequest, registry_pb2.GetTenantResponse
    ]
    GrantPermission: grpc.UnaryUnaryMultiCallable[
        registry_pb2.GrantPermissionRequest, registry_pb2.GrantPermissionResponse
    ]
    ListAgents: grpc.UnaryUnaryMultiCallable[
        registry_pb2.ListAgentsRequest, registry_pb2.ListAgentsResponse
    ]
    ListApiKeys: grpc.UnaryUnaryMultiCallable[
        registry_pb2.ListApiKeysRequest, registry_pb2.ListApiKeysResponse
    ]
    ListApprovals: grpc.UnaryUnaryMultiCallable[
        registry_pb2.ListApprovalsRequest, registry_pb2.ListApprovalsResponse
    ]
    ListDecisions: grpc.UnaryUnaryMultiCallable[
        registry_pb2.ListDecisionsRequest, registry_pb2.ListDecisionsResponse
    ]
    ListPassportKeys: grpc.UnaryUnaryMultiCallable[
        registry_pb2.ListPassportKeysRequest, registry_pb2.ListPassportKeysResponse
    ]
    ListPermissions: grpc.UnaryUnaryMultiCallable[
        registry_pb2.ListPermissionsRequest, registry_pb2.ListPermissionsResponse
    ]
    ListScopeTemplates: grpc.UnaryUnaryMultiCallable[
        registry_pb2.ListScopeTemplatesRequest, registry_pb2.ListScopeTemplatesResponse
    ]
    ListWebhookEndpoints: grpc.UnaryUnaryMultiCallable[
        registry_pb2.ListWebhookEndpointsRequest, registry_pb2.ListWebhookEndpointsResponse
    ]
    ResolveApproval: grpc.UnaryUnaryMultiCallable[
        registry_pb2.ResolveApprovalRequest, registry_pb2.ResolveApprovalResponse
    ]
    RevokeApiKey: grpc.UnaryUnaryMultiCallable[
        registry_pb2.RevokeApiKeyRequest, registry_pb2.RevokeApiKeyResponse
    ]
    RevokePermission: grpc.UnaryUnaryMultiCallable[
        registry_pb2.RevokePermissionRequest, registry_pb2.RevokePermissionResponse
    ]
    RotateWebhookSecret: grpc.UnaryUnaryMultiCallable[
        registry_pb2.RotateWebhookSecretRequest, registry_pb2.RotateWebhookSecretResponse
    ]


class DispatcherStub(Protocol):
    """The `behalf.v1.DispatcherService` methods the CLI calls."""

    GetDelivery: grpc.UnaryUnaryMultiCallable[
        dispatcher_pb2.GetDeliveryRequest, dispatcher_pb2.GetDeliveryResponse
    ]
    ListDeliveries: grpc.UnaryUnaryMultiCallable[
        dispatcher_pb2.ListDeliveriesRequest, dispatcher_pb2.ListDeliveriesResponse
    ]
    Redrive: grpc.UnaryUnaryMultiCallable[
        dispatcher_pb2.RedriveRequest, dispatcher_pb2.RedriveResponse
    ]


registry_stub: Callable[[grpc.Channel], RegistryStub] = registry_pb2_grpc.RegistryServiceStub
dispatcher_stub: Callable[[grpc.Channel], DispatcherStub] = (
    dispatcher_pb2_grpc.DispatcherServiceStub
)
