"""A bare grpc.aio server answering VerifierService.Verify with an empty reply: the baseline."""

from __future__ import annotations

import asyncio
import sys

import grpc

from behalf.v1 import verifier_pb2, verifier_pb2_grpc


class NoopVerifier(verifier_pb2_grpc.VerifierServiceServicer):
    async def Verify(self, request, context):
        return verifier_pb2.VerifyResponse()


async def main(port: int) -> None:
    server = grpc.aio.server()
    verifier_pb2_grpc.add_VerifierServiceServicer_to_server(NoopVerifier(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
