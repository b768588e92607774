"""SQLite-specific behaviour: threads, pragmas, memory databases, Decimal text."""

from __future__ import annotations

import threading
from typing import Optional

import pytest

from twinrecord import BaseActiveRecord, TransactionError
from twinrecord.backends.sqlite import SQLiteBackend, SQLiteConfig


def counter_model():
    class Counter(BaseActiveRecord):
        __table_name__ = "counters"
        id: Optional[int] = None
        name: str
        value: int = 0

    return Counter


def test_file_databases_use_wal_normal_and_foreign_keys(tmp_path):
    backend = SQLiteBackend(SQLiteConfig(database=str(tmp_path / "a.db")))
    try:
        assert backend.fetch_one("PRAGMA journal_mode")["journal_mode"] == "wal"
        assert backend.fetch_one("PRAGMA synchronous")["synchronous"] == 1   # NORMAL
        assert backend.fetch_one("PRAGMA foreign_keys")["foreign_keys"] == 1
    finally:
        backend.close()


def test_pragmas_option_overrides(tmp_path):
    backend = SQLiteBackend(SQLiteConfig(database=str(tmp_path / "a.db"), pragmas={"synchronous": "FULL"}))
    try:
        assert backend.fetch_one("PRAGMA synchronous")["synchronous"] == 2
    finally:
        backend.close()


def test_many_threads_write_and_read_safely(tmp_path):
    Counter = counter_model()
    Counter.configure(f"sqlite:///{tmp_path}/threads.db?busy_timeout=20")
    try:
        Counter.create_table()
        errors = []

        def worker(n: int) -> None:
            try:
                for i in range(40):
                    Counter(name=f"t{n}-{i}", value=i).save()
                with Counter.transaction():
                    for row in Counter.query().where("name LIKE ?", (f"t{n}-%",)).all():
                        row.value += 1000
                        row.save()
            except Exception as error:  # collected and asserted below
                errors.append(error)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert Counter.query().count() == 320
        assert Counter.query().where("value >= ?", (1000,)).count() == 320
    finally:
        Counter.backend().close()


def test_a_thread_does_not_see_another_threads_open_transaction(tmp_path):
    Counter = counter_model()
    Counter.configure(f"sqlite:///{tmp_path}/iso.db")
    try:
        Counter.create_table()
        Counter(name="a", value=1).save()
        seen = []
        with Counter.transaction(isolation_level="IMMEDIATE"):
            Counter.query().update({"value": 2})
            reader = threading.Thread(target=lambda: seen.append(Counter.find_one(1).value))
            reader.start()
            reader.join()
            assert Counter.find_one(1).value == 2
        assert seen == [1]
    finally:
        Counter.backend().close()


def test_memory_database_works_with_its_single_connection():
    Counter = counter_model()
    Counter.configure("sqlite:///:memory:")
    try:
        Counter.create_table()
        with Counter.transaction():
            Counter(name="m").save()
        assert Counter.query().count() == 1
    finally:
        Counter.backend().close()


def test_thread_started_inside_a_transaction_with_its_context_is_serialised(tmp_path):
    """contextvars.copy_context() carries the transaction into a thread: its statements
    join the transaction one at a time, and it may not open a nested transaction."""
    import contextvars

    Counter = counter_model()
    Counter.configure(f"sqlite:///{tmp_path}/ctx.db")
    try:
        Counter.create_table()
        outcome = []
        with Counter.transaction():
            Counter(name="owner").save()
            context = contextvars.copy_context()

            def child() -> None:
                outcome.append(Counter.query().count())
                try:
                    with Counter.transaction():
                        pass
                except TransactionError as error:
                    outcome.append(type(error).__name__)

            thread = threading.Thread(target=context.run, args=(child,))
            thread.start()
            thread.join()
        assert outcome == [1, "TransactionError"]
    finally:
        Counter.backend().close()


def test_decimal_text_keeps_every_digit(tmp_path):
    from decimal import Decimal

    class Price(BaseActiveRecord):
        __table_name__ = "prices"
        id: Optional[int] = None
        amount: Decimal

    Price.configure(f"sqlite:///{tmp_path}/d.db")
    try:
        Price.create_table()
        value = Decimal("12345678901234567890.123456789012345678")
        Price(amount=value).save()
        assert Price.find_one(1).amount == value
        raw = Price.backend().fetch_one("SELECT typeof(amount) AS t, amount FROM prices")
        assert raw == {"t": "text", "amount": str(value)}
    finally:
        Price.backend().close()


@pytest.mark.parametrize("mode", ["DEFERRED", "immediate", "Exclusive"])
def test_sqlite_locking_modes(tmp_path, mode):
    Counter = counter_model()
    Counter.configure(f"sqlite:///{tmp_path}/m.db")
    try:
        Counter.create_table()
        with Counter.transaction(isolation_level=mode):
            Counter(name="x").save()
        assert Counter.query().count() == 1
    finally:
        Counter.backend().close()


def test_statements_outside_and_inside_transactions_translate_errors_and_log(tmp_path, caplog):
    """The SQLite backend's short path for plan statements (no log, no replicas): errors
    are translated with the driver's error as cause, a failed statement dooms its
    transaction, the pool gets its connection back, and at DEBUG statements are logged."""
    import logging
    import sqlite3

    from twinrecord import RecordNotUnique, StatementInvalid

    class Tag(BaseActiveRecord):
        __table_name__ = "tags"
        id: Optional[int] = None
        name: str

    Tag.configure(f"sqlite:///{tmp_path}/short.db")
    try:
        Tag.create_table()
        Tag.backend().execute("CREATE UNIQUE INDEX tags_name ON tags (name)")
        first = Tag(name="a")
        assert first.save() == 1 and first.id == 1
        with pytest.raises(RecordNotUnique) as caught:
            Tag(name="a").save()
        assert isinstance(caught.value.__cause__, sqlite3.IntegrityError)
        with pytest.raises(StatementInvalid):
            Tag.query().where("nope = ?", (1,)).all()
        with pytest.raises(TransactionError), Tag.transaction():
            with pytest.raises(RecordNotUnique):
                Tag(name="a").save()
            Tag.find_one(1)  # refused: the transaction is doomed
        assert Tag.query().count() == 1
        assert Tag.find_one(1) == first
        assert Tag.query().where({"id": 1}).update({"name": "b"}) == 1
        pool = Tag.backend()._pool
        assert pool.idle == pool.size  # every connection given back
        with caplog.at_level(logging.DEBUG, logger="twinrecord.sql"):
            assert Tag.find_one(1).name == "b"
            assert Tag.query().where({"id": 1}).delete() == 1
        logged = [r.getMessage() for r in caplog.records if r.name == "twinrecord.sql"]
        assert any("SELECT" in m for m in logged) and any("DELETE" in m for m in logged)
    finally:
        Tag.backend().close()
