"""gRPC server reflection that also resolves method names, which protobuf's upb pool does not."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
from google.protobuf import descriptor_pool
from grpc_reflection.v1alpha import reflection

# grpcio-reflection serves only v1alpha; grpcurl and ghz fall back to it when v1 is unimplemented.
SERVICE_NAME = reflection.SERVICE_NAME


class _MethodAwarePool:
    """A descriptor pool whose `FindFileContainingSymbol` also finds a method's file.

    grpcurl `describe pkg.Service.Method` and ghz `--call` ask reflection for the file holding
    the method's full name. The upb pool (protobuf's default implementation) answers that for
    messages, fields, enums, values and services, but raises KeyError for methods
    (grpc/grpc#34743), so reflection replied "Symbol not found". Everything else is the pool's.
    """

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)

    def FindFileContainingSymbol(self, symbol: str) -> Any:  # the pool's method name
        try:
            return self._pool.FindFileContainingSymbol(symbol)
        except KeyError:
            try:
                method = self._pool.FindMethodByName(symbol)
            except KeyError:
                pass
            else:
                return method.containing_service.file
            raise


def enable_reflection(service_names: Iterable[str], server: grpc.aio.Server) -> None:
    """Serve reflection on `server` for `service_names` (and reflection itself), over the
    default descriptor pool every generated module registers into."""
    reflection.enable_server_reflection(
        (*service_names, SERVICE_NAME),
        server,
        # The stubs ask for a DescriptorPool; reflection only calls its Find* methods, which the
        # wrapper forwards.
        pool=_MethodAwarePool(descriptor_pool.Default()),  # type: ignore[arg-type]
    )
