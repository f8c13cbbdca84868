"""The audit producer's retry of a refused AddPartitionsToTxn (CONCURRENT_TRANSACTIONS).

behalf.verifier.audit lowers aiokafka's hard-coded 20 ms retry for it; this pins the name it
patches, so an aiokafka upgrade that moves the constant fails here instead of silently bringing
the 20 ms stalls back.
"""

from __future__ import annotations

import inspect

from aiokafka.producer import sender

from behalf.verifier import audit


def test_the_patched_constant_is_the_one_aiokafka_reads() -> None:
    assert sender.BACKOFF_OVERRIDE == audit.CONCURRENT_TRANSACTIONS_RETRY_SECONDS
    handler = inspect.getsource(sender.AddPartitionsToTxnHandler.handle_response)
    assert "ConcurrentTransactions" in handler
    assert "return BACKOFF_OVERRIDE" in handler


def test_the_retry_is_shorter_than_aiokafkas_default() -> None:
    assert audit.CONCURRENT_TRANSACTIONS_RETRY_SECONDS < 0.02
