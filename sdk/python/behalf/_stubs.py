"""Typed views of the generated gRPC stubs the clients call.

grpc_tools generates `*_pb2_grpc` modules without types; each view names the methods the SDK
calls with their request and response messages, and a typed constructor builds the generated
stub behind it, so a call's reply is checked like any other value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import grpc

from behalf.v1 import registry_pb2, registry_pb2_grpc, verifier_pb2, verifier_pb2_grpc

__all__ = ["RegistryStub", "VerifierStub", "registry_stub", "verifier_stub"]


class VerifierStub(Protocol):
    """`behalf.v1.VerifierService` on an asyncio channel."""

    Verify: grpc.aio.UnaryUnaryMultiCallable[
        verifier_pb2.VerifyRequest, verifier_pb2.VerifyResponse
    ]


class RegistryStub(Protocol):
    """The `behalf.v1.RegistryService` methods an SDK key calls, on an asyncio channel."""

    GetApproval: grpc.aio.UnaryUnaryMultiCallable[
        registry_pb2.GetApprovalRequest, registry_pb2.GetApprovalResponse
    ]
    ExportPassport: grpc.aio.UnaryUnaryMultiCallable[
        registry_pb2.ExportPassportRequest, registry_pb2.ExportPassportResponse
    ]
    ListPassportKeys: grpc.aio.UnaryUnaryMultiCallable[
        registry_pb2.ListPassportKeysRequest, registry_pb2.ListPassportKeysResponse
    ]


verifier_stub: Callable[[grpc.aio.Channel], VerifierStub] = verifier_pb2_grpc.VerifierServiceStub
registry_stub: Callable[[grpc.aio.Channel], RegistryStub] = registry_pb2_grpc.RegistryServiceStub
