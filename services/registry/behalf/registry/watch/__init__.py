"""The policy watch: one outbox tail per registry process (`tail`), fanned out to verifiers'
WatchPolicy streams (`stream`) as messages built without I/O (`deltas`); its SQL is
`behalf.registry.store.policy_reads`."""

from behalf.registry.store.outbox import NOTIFY_CHANNEL
from behalf.registry.watch.stream import WatchHub

__all__ = ["NOTIFY_CHANNEL", "WatchHub"]
