"""The registry's use cases, one module per aggregate; each owns its transaction.

A command takes validated values, runs in one transaction on `Db` (taking the next policy
revision when it changes policy, writing the outbox row), and returns contract types. Handlers
of both APIs call these and never open a transaction or write SQL themselves.
"""
