"""DispatcherService: list, get and redrive deliveries of the caller's tenant."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from behalf.common import page_tokens
from behalf.common.callers import READ_ROLES, Role
from behalf.common.errors import InvalidArgument, NotFound
from behalf.common.timestamps import read_timestamp
from behalf.dispatcher.auth import Authenticator
from behalf.dispatcher.store import (
    AttemptRow,
    Cursor,
    DeliveryFilter,
    DeliveryRow,
    DeliveryStore,
)
from behalf.dispatcher.tasks import TaskSink, task_for
from behalf.v1 import dispatcher_pb2, dispatcher_pb2_grpc

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_MAX_ID_LENGTH = 64

_STATE_NAMES = {
    dispatcher_pb2.DELIVERY_STATE_PENDING: "pending",
    dispatcher_pb2.DELIVERY_STATE_RETRYING: "retrying",
    dispatcher_pb2.DELIVERY_STATE_SUCCEEDED: "succeeded",
    dispatcher_pb2.DELIVERY_STATE_DEAD: "dead",
}
_STATE_ENUMS = {name: value for value, name in _STATE_NAMES.items()}


class Redriver:
    """Re-enqueues dead deliveries into the first retry tier, due now, same webhook id."""

    def __init__(self, store: DeliveryStore, sink: TaskSink, first_tier_topic: str) -> None:
        self._store = store
        self._sink = sink
        self._topic = first_tier_topic

    async def redrive(
        self,
        tenant_id: str,
        *,
        delivery_id: str = "",
        endpoint_id: str = "",
        dead_since: datetime | None = None,
    ) -> int:
        async def enqueue(rows: list[DeliveryRow]) -> None:
            now = datetime.now(UTC)
            await self._sink.send(self._topic, [task_for(r, r.attempt_count, now) for r in rows])

        return await self._store.redrive(
            tenant_id,
            delivery_id=delivery_id,
            endpoint_id=endpoint_id,
            dead_since=dead_since,
            enqueue=enqueue,
        )


def _ts(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(moment.astimezone(UTC))
    return ts


def _check_id(field: str, value: str, prefix: str) -> None:
    if len(value) > _MAX_ID_LENGTH or not value.startswith(prefix + "_"):
        raise InvalidArgument(field, f"must be an id starting with {prefix}_")


def delivery_to_proto(
    row: DeliveryRow, attempts: list[AttemptRow] | None = None
) -> dispatcher_pb2.Delivery:
    message = dispatcher_pb2.Delivery(
        delivery_id=row.delivery_id,
        tenant_id=row.tenant_id,
        endpoint_id=row.endpoint_id,
        event_id=row.event_id,
        event_type=row.event_type,
        webhook_id=row.webhook_id,
        state=_STATE_ENUMS[row.state],
        attempt_count=row.attempt_count,
        create_time=_ts(row.created_at),
        update_time=_ts(row.updated_at),
        last_status_code=row.last_status_code,
        last_error=row.last_error,
    )
    if row.next_attempt_at is not None and row.state in ("pending", "retrying"):
        message.next_attempt_time.FromDatetime(row.next_attempt_at.astimezone(UTC))
    for attempt in attempts or ():
        latency = Duration()
        latency.FromNanoseconds(int(attempt.latency_ms * 1_000_000))
        message.attempts.append(
            dispatcher_pb2.DeliveryAttempt(
                attempt_number=attempt.attempt_number,
                attempt_time=_ts(attempt.attempted_at),
                status_code=attempt.status_code,
                latency=latency,
                error=attempt.error,
                response_body=attempt.response_body,
            )
        )
    return message


_PAGE_KIND = "deliveries"


def encode_page_token(cursor: Cursor) -> str:
    return page_tokens.encode(_PAGE_KIND, cursor.created_at, cursor.delivery_id)


def decode_page_token(token: str) -> Cursor:
    try:
        position = page_tokens.decode(_PAGE_KIND, token)
    except page_tokens.BadPageToken:
        raise InvalidArgument("page_token", "is not a token from a previous response") from None
    if position is None:
        raise InvalidArgument("page_token", "is not a token from a previous response")
    return Cursor(position.at, position.row_id)


class DispatcherServicer(dispatcher_pb2_grpc.DispatcherServiceServicer):
    """Thin gRPC layer: authenticate, validate, call the store, convert."""

    def __init__(self, auth: Authenticator, store: DeliveryStore, redriver: Redriver) -> None:
        self._auth = auth
        self._store = store
        self._redriver = redriver

    async def ListDeliveries(
        self,
        request: dispatcher_pb2.ListDeliveriesRequest,
        context: grpc.aio.ServicerContext[
            dispatcher_pb2.ListDeliveriesRequest, dispatcher_pb2.ListDeliveriesResponse
        ],
    ) -> dispatcher_pb2.ListDeliveriesResponse:
        caller = await self._auth.authenticate(context.invocation_metadata())
        caller.require(*READ_ROLES)
        if request.page_size < 0 or request.page_size > MAX_PAGE_SIZE:
            raise InvalidArgument("page_size", f"must be between 0 and {MAX_PAGE_SIZE}")
        if request.state and request.state not in _STATE_NAMES:
            raise InvalidArgument("state", "unknown delivery state")
        if request.endpoint_id:
            _check_id("endpoint_id", request.endpoint_id, "whe")
        if request.event_id:
            _check_id("event_id", request.event_id, "evt")
        size = request.page_size or DEFAULT_PAGE_SIZE
        where = DeliveryFilter(
            endpoint_id=request.endpoint_id,
            event_id=request.event_id,
            state=_STATE_NAMES.get(request.state, ""),
            start_time=read_timestamp(request, "start_time"),
            end_time=read_timestamp(request, "end_time"),
        )
        after = decode_page_token(request.page_token) if request.page_token else None
        rows = await self._store.list_deliveries(caller.tenant_id, where, after, size + 1)
        page, more = rows[:size], len(rows) > size
        token = encode_page_token(Cursor(page[-1].created_at, page[-1].delivery_id)) if more else ""
        return dispatcher_pb2.ListDeliveriesResponse(
            deliveries=[delivery_to_proto(r) for r in page], next_page_token=token
        )

    async def GetDelivery(
        self,
        request: dispatcher_pb2.GetDeliveryRequest,
        context: grpc.aio.ServicerContext[
            dispatcher_pb2.GetDeliveryRequest, dispatcher_pb2.GetDeliveryResponse
        ],
    ) -> dispatcher_pb2.GetDeliveryResponse:
        caller = await self._auth.authenticate(context.invocation_metadata())
        caller.require(*READ_ROLES)
        _check_id("delivery_id", request.delivery_id, "dlv")
        found = await self._store.get_with_attempts(caller.tenant_id, request.delivery_id)
        if found is None:
            raise NotFound("no such delivery")
        row, attempts = found
        return dispatcher_pb2.GetDeliveryResponse(delivery=delivery_to_proto(row, attempts))

    async def Redrive(
        self,
        request: dispatcher_pb2.RedriveRequest,
        context: grpc.aio.ServicerContext[
            dispatcher_pb2.RedriveRequest, dispatcher_pb2.RedriveResponse
        ],
    ) -> dispatcher_pb2.RedriveResponse:
        caller = await self._auth.authenticate(context.invocation_metadata())
        caller.require(Role.ADMIN)
        target = request.WhichOneof("target")
        since = read_timestamp(request, "since_time")
        if target == "delivery_id":
            _check_id("delivery_id", request.delivery_id, "dlv")
            if since is not None:
                raise InvalidArgument("since_time", "only applies with endpoint_id")
            count = await self._redriver.redrive(caller.tenant_id, delivery_id=request.delivery_id)
            if count == 0:
                found = await self._store.get_with_attempts(caller.tenant_id, request.delivery_id)
                if found is None:
                    raise NotFound("no such delivery")
        elif target == "endpoint_id":
            _check_id("endpoint_id", request.endpoint_id, "whe")
            count = await self._redriver.redrive(
                caller.tenant_id, endpoint_id=request.endpoint_id, dead_since=since
            )
        else:
            raise InvalidArgument("target", "set delivery_id or endpoint_id")
        return dispatcher_pb2.RedriveResponse(redriven_count=count)
