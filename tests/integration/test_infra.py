"""Smoke tests proving the real PostgreSQL and Kafka servers of the harness work end to end."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.harness.infra import create_database_from_template, drop_database

pytestmark = pytest.mark.integration


async def test_kafka_idempotent_produce_and_consume(kafka_bootstrap: str) -> None:
    """An idempotent acks=all message sent to a fresh topic is consumed back from the broker."""
    topic = f"test-infra-{uuid.uuid4().hex}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, b"hello", key=b"k1")
    finally:
        await producer.stop()
    assert sent.offset == 0

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{topic}-group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
        await consumer.commit()
    finally:
        await consumer.stop()
    assert (record.key, record.value, record.offset) == (b"k1", b"hello", 0)


async def test_postgres_round_trip(database_url: str) -> None:
    """A table can be created, written and read back through asyncpg."""
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT 1") == 1
        await conn.execute("CREATE TABLE IF NOT EXISTS infra_probe (id int PRIMARY KEY, note text)")
        await conn.execute("INSERT INTO infra_probe VALUES ($1, $2)", 1, "hello")
        assert await conn.fetchval("SELECT note FROM infra_probe WHERE id = $1", 1) == "hello"
        await conn.execute("DROP TABLE infra_probe")
    finally:
        await conn.close()


async def test_database_from_template(database_url: str) -> None:
    """A database copied from a template carries the template's tables and rows."""
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    suffix = uuid.uuid4().hex[:12]
    template, copy = f"tmpl_{suffix}", f"copy_{suffix}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{template}"')
    finally:
        await admin.close()
    try:
        seed = await asyncpg.connect(database_url.rsplit("/", 1)[0] + f"/{template}")
        try:
            await seed.execute("CREATE TABLE t (v text); INSERT INTO t VALUES ('seeded')")
        finally:
            await seed.close()
        copy_url = await create_database_from_template(admin_url, template, copy)
        conn = await asyncpg.connect(copy_url)
        try:
            assert await conn.fetchval("SELECT v FROM t") == "seeded"
        finally:
            await conn.close()
    finally:
        await drop_database(admin_url, copy)
        await drop_database(admin_url, template)
