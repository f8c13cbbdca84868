"""A bare grpc.aio server answering Verify with an empty reply and Envoy's ext_authz Check with
OK: the baseline, the same server machinery with no work. Reflection on, for ghz's Check."""

from __future__ import annotations

import asyncio
import sys

import grpc
from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc
from google.rpc import code_pb2, status_pb2

from behalf.common.reflection import SERVICE_NAME, enable_reflection
from behalf.v1 import verifier_pb2, verifier_pb2_grpc

_ALLOWED = external_auth_pb2.CheckResponse(status=status_pb2.Status(code=code_pb2.OK))


class NoopVerifier(verifier_pb2_grpc.VerifierServiceServicer):
    async def Verify(self, request, context):
        return verifier_pb2.VerifyResponse()


class NoopAuthorization(external_auth_pb2_grpc.AuthorizationServicer):
    async def Check(self, request, context):
        return _ALLOWED


async def main(port: int) -> None:
    server = grpc.aio.server()
    verifier_pb2_grpc.add_VerifierServiceServicer_to_server(NoopVerifier(), server)
    external_auth_pb2_grpc.add_AuthorizationServicer_to_server(NoopAuthorization(), server)
    names = (
        verifier_pb2.DESCRIPTOR.services_by_name["VerifierService"].full_name,
        external_auth_pb2.DESCRIPTOR.services_by_name["Authorization"].full_name,
        SERVICE_NAME,
    )
    enable_reflection(names, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
