"""MySQLConfig, driver options, TLS policy and the MySQL error table, without a server."""

from __future__ import annotations

from typing import Any

import mysql.connector.errors as driver_errors
import pytest
from mysql.connector.constants import ClientFlag

from twinrecord.backends import resolve_url
from twinrecord.backends.mysql import (
    AsyncMySQLBackend,
    MySQLBackend,
    MySQLConfig,
    driver_kwargs,
    server_facts,
    single_row_sql,
)
from twinrecord.backends.mysql._core import insert_shape, packet_parts, session_settings
from twinrecord.backends.mysql._errors import scrub, translate_error
from twinrecord.errors import (
    ConfigurationError,
    ConnectionNotEstablished,
    Deadlocked,
    IntegrityError,
    LockWaitTimeout,
    QueryCanceled,
    RecordNotUnique,
    SerializationFailure,
    StatementInvalid,
    TransactionRollbackError,
)

SECRET = "s3cr3t-pa55"


# ---- URLs -----------------------------------------------------------------------------
def test_from_url_reads_every_part_and_coerces_options() -> None:
    config = MySQLConfig.from_url(
        f"mysql://app:{SECRET}@db.example:3307/shop?pool_size=5&pool_min_size=2"
        "&connect_timeout=2.5&ssl_disabled=true&log_values=1"
    )
    assert (config.host, config.port, config.user, config.password, config.database) == (
        "db.example", 3307, "app", SECRET, "shop",
    )
    assert (config.pool_size, config.pool_min_size, config.connect_timeout) == (5, 2, 2.5)
    assert config.ssl_disabled is True and config.log_values is True


def test_defaults_and_percent_encoded_credentials() -> None:
    config = MySQLConfig.from_url("mariadb://r%40ot:p%3Aw%2Fd@127.0.0.1/test")
    assert (config.user, config.password, config.port) == ("r@ot", "p:w/d", 3306)
    assert (config.charset, config.pool_size, config.pool_min_size) == ("utf8mb4", 10, 1)
    assert config.connect_timeout == 10 and config.ssl_disabled is None


def test_url_without_database_leaves_it_unset() -> None:
    assert MySQLConfig.from_url("mysql://root@127.0.0.1").database is None


def test_unknown_option_names_the_url_with_the_password_masked() -> None:
    with pytest.raises(ConfigurationError) as caught:
        MySQLConfig.from_url(f"mysql://root:{SECRET}@127.0.0.1/test?pool_sise=5")
    message = str(caught.value)
    assert "pool_sise" in message and "mysql://root:***@127.0.0.1/test" in message
    assert SECRET not in message


def test_malformed_url_is_a_configuration_error_without_the_password() -> None:
    with pytest.raises(ConfigurationError) as caught:
        MySQLConfig.from_url(f"mysql://root:{SECRET}@127.0.0.1:notaport/test")
    assert SECRET not in str(caught.value)


def test_bad_option_value_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="pool_size"):
        MySQLConfig.from_url("mysql://root@127.0.0.1/test?pool_size=many")


def test_options_dict_cannot_come_from_a_url() -> None:
    with pytest.raises(ConfigurationError, match="options"):
        MySQLConfig.from_url("mysql://root@127.0.0.1/test?options=x")


def test_resolve_url_picks_the_mysql_backends_for_both_schemes() -> None:
    for scheme in ("mysql", "mariadb"):
        sync_class, config = resolve_url(f"{scheme}://root@127.0.0.1/test?pool_size=3", False)
        async_class, _ = resolve_url(f"{scheme}://root@127.0.0.1/test", True)
        assert (sync_class, async_class) == (MySQLBackend, AsyncMySQLBackend)
        assert isinstance(config, MySQLConfig) and config.pool_size == 3


# ---- validation and masking ----------------------------------------------------------
def test_repr_masks_the_password() -> None:
    text = repr(MySQLConfig(password=SECRET, database="app"))
    assert SECRET not in text and "password='***'" in text and "database='app'" in text


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"pool_size": 0}, "pool_size"),
        ({"pool_size": 2, "pool_min_size": 3}, "pool_min_size"),
        ({"connect_timeout": 0}, "connect_timeout"),
        ({"port": 70000}, "port"),
        ({"options": {"autocommit": False}}, "autocommit"),
        ({"options": {"use_pure": True}}, "use_pure"),
        ({"ssl_disabled": True, "ssl_ca": "/ca.pem"}, "contradicts"),
    ],
)
def test_invalid_settings_are_refused_with_the_password_masked(
    options: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ConfigurationError, match=fragment) as caught:
        MySQLConfig(password=SECRET, **options)
    assert SECRET not in str(caught.value)


# ---- what the driver is given ----------------------------------------------------------
def test_driver_kwargs_autocommit_found_rows_and_the_c_extension() -> None:
    config = MySQLConfig(database="app", password=SECRET, connect_timeout=2.5)
    sync = driver_kwargs(config, is_async=False)
    assert sync["use_pure"] is False and sync["autocommit"] is True
    assert sync["client_flags"] & ClientFlag.FOUND_ROWS
    wanted = ClientFlag.get_default() & ~ClientFlag.MULTI_STATEMENTS
    assert sync["client_flags"] & wanted == wanted
    # Never several statements in one string, in either kind (issue 8, item 1).
    for kind in (True, False):
        assert not driver_kwargs(config, is_async=kind)["client_flags"] & ClientFlag.MULTI_STATEMENTS
    assert sync["connection_timeout"] == 3          # whole seconds, rounded up
    assert (sync["database"], sync["charset"], sync["password"]) == ("app", "utf8mb4", SECRET)
    assert "use_pure" not in driver_kwargs(config, is_async=True)


def test_extra_driver_options_pass_through() -> None:
    config = MySQLConfig(options={"init_command": "SET SESSION sql_mode = ''"})
    assert driver_kwargs(config, is_async=True)["init_command"] == "SET SESSION sql_mode = ''"


@pytest.mark.parametrize(
    "options, policy, ssl_disabled",
    [
        ({}, "preferred", False),
        ({"ssl_disabled": True}, "disabled", True),
        ({"ssl_disabled": False}, "required", False),
        ({"ssl_ca": "/ca.pem"}, "required", False),
        ({"ssl_verify_identity": True}, "required", False),
    ],
)
def test_tls_policy_follows_the_settings(
    options: dict[str, Any], policy: str, ssl_disabled: bool
) -> None:
    config = MySQLConfig(**options)
    assert config.tls_policy == policy
    kwargs = driver_kwargs(config, is_async=True)
    assert kwargs["ssl_disabled"] is ssl_disabled
    if "ssl_ca" in options:
        assert kwargs["ssl_ca"] == "/ca.pem"


# ---- generated keys ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "lock_mode, increment, step", [(0, 1, 1), (1, 1, 1), (1, 3, 3), (2, 1, None), (None, 1, None)]
)
def test_only_consecutive_lock_modes_allow_arithmetic_keys(
    lock_mode: int | None, increment: int, step: int | None
) -> None:
    facts = server_facts((increment, lock_mode, "10.11.19-MariaDB", 1 << 24))
    assert facts.id_step == step and facts.is_mariadb


def test_single_row_sql_splits_the_compiled_multi_row_insert() -> None:
    sql = "INSERT INTO `t` (`a`, `b`) VALUES (%s, %s), (%s, %s), (%s, %s)"
    assert single_row_sql(sql, 2, 3) == "INSERT INTO `t` (`a`, `b`) VALUES (%s, %s)"
    with pytest.raises(ConfigurationError):
        single_row_sql(sql + " ON DUPLICATE KEY UPDATE a = a", 2, 3)


# ---- the error table ----------------------------------------------------------------------
def error(kind: type[driver_errors.Error], errno: int, msg: str) -> driver_errors.Error:
    return kind(msg=msg, errno=errno, sqlstate="23000")


CONFIG = MySQLConfig(host="db.example", port=3307, database="shop", password=SECRET)


def test_duplicate_key_names_the_key_and_hides_the_value() -> None:
    raised = error(driver_errors.IntegrityError, 1062,
                   "Duplicate entry 'secret@x.org' for key 'uq_email'")
    translated = translate_error(raised, "INSERT INTO `users` ...", ["secret@x.org"], CONFIG)
    assert isinstance(translated, RecordNotUnique) and translated.constraint == "uq_email"
    assert "secret@x.org" not in str(translated) and "uq_email" in str(translated)


def test_duplicate_key_mysql8_table_prefix_and_composite_value() -> None:
    raised = error(driver_errors.IntegrityError, 1062,
                   "Duplicate entry 'alice-42' for key 'users.PRIMARY'")
    translated = translate_error(raised, "INSERT INTO `users` ...", ["alice", 42], CONFIG)
    # MySQL calls every primary key PRIMARY; API.md §19 names it pk_<table>.
    assert isinstance(translated, RecordNotUnique) and translated.constraint == "pk_users"
    assert "alice" not in str(translated)


@pytest.mark.parametrize(
    "errno, msg, constraint",
    [
        (1452, "Cannot add or update a child row: a foreign key constraint fails "
               "(`shop`.`posts`, CONSTRAINT `fk_author` FOREIGN KEY (`user_id`) "
               "REFERENCES `users` (`id`))", "fk_author"),
        (1451, "Cannot delete or update a parent row: a foreign key constraint fails "
               "(`shop`.`posts`, CONSTRAINT `fk_author` FOREIGN KEY (`user_id`) "
               "REFERENCES `users` (`id`))", "fk_author"),
        (1048, "Column 'name' cannot be null", None),
        (4025, "CONSTRAINT `chk_age` failed for `shop`.`people`", "chk_age"),
        (3819, "Check constraint 'chk_age' is violated.", "chk_age"),
    ],
)
def test_integrity_errors_carry_their_constraint(
    errno: int, msg: str, constraint: str | None
) -> None:
    translated = translate_error(error(driver_errors.IntegrityError, errno, msg), "SQL", [1], CONFIG)
    assert type(translated) is IntegrityError and translated.constraint == constraint


def test_lost_connection_names_the_server_but_never_the_password() -> None:
    raised = driver_errors.OperationalError(msg="Lost connection to MySQL server", errno=2013)
    translated = translate_error(raised, "SELECT 1", [], CONFIG)
    assert isinstance(translated, ConnectionNotEstablished)
    text = str(translated)
    assert "db.example:3307" in text and "'shop'" in text and SECRET not in text


def test_anything_else_is_statement_invalid_without_values() -> None:
    raised = error(driver_errors.ProgrammingError, 1064,
                   "You have an error in your SQL syntax; check the manual that corresponds "
                   "to your MariaDB server version for the right syntax to use near "
                   "''topsecret'' at line 1")
    translated = translate_error(raised, "SELEC %s", ["topsecret"], CONFIG)
    assert isinstance(translated, StatementInvalid)
    assert "topsecret" not in str(translated) and "SELEC %s" in str(translated)
    assert translated.sql == "SELEC %s" and translated.param_types == ["str"]


def test_incorrect_value_messages_hide_the_value() -> None:
    raised = error(driver_errors.DatabaseError, 1366,
                   "Incorrect integer value: 'hunter2' for column `shop`.`t`.`n` at row 1")
    assert "hunter2" not in str(translate_error(raised, "INSERT", ["hunter2"], CONFIG))


def test_scrub_leaves_messages_alone_when_no_values_were_sent() -> None:
    message = "Duplicate entry 'literal' for key 'k'"
    assert scrub(message, []) == message
    assert "literal" not in scrub(message, [5])


def test_connect_errors_never_show_the_password() -> None:
    from twinrecord.backends.mysql._errors import connect_error

    raised = driver_errors.ProgrammingError(
        msg=f"Access denied for user 'app'@'host' (using password: {SECRET})", errno=1045
    )
    translated = connect_error(CONFIG, raised)
    assert isinstance(translated, ConnectionNotEstablished)
    assert SECRET not in str(translated) and "db.example:3307" in str(translated)
    timeout = connect_error(CONFIG, TimeoutError())
    assert "connect_timeout=10s" in str(timeout)


# ---- issue 8: classified refusals, session settings, statements split by packet size -------
@pytest.mark.parametrize(
    "errno, sqlstate, expected",
    [
        (1213, "40001", Deadlocked),
        (1020, "HY000", SerializationFailure),
        (1205, "HY000", LockWaitTimeout),
        (1969, "70100", QueryCanceled),
        (3024, "HY000", QueryCanceled),
        (1317, "70100", QueryCanceled),
        (9999, "40001", SerializationFailure),
        (1064, "42000", StatementInvalid),
    ],
)
def test_refusals_with_a_class_of_their_own(
    errno: int, sqlstate: str, expected: type[StatementInvalid]
) -> None:
    raised = driver_errors.DatabaseError(msg="refused 'hunter2'", errno=errno, sqlstate=sqlstate)
    translated = translate_error(raised, "UPDATE t SET a = %s", ["hunter2"], CONFIG)
    assert type(translated) is expected
    assert translated.sql == "UPDATE t SET a = %s" and translated.param_types == ["str"]
    assert "hunter2" not in str(translated) and f"MySQL error {errno}" in str(translated)
    assert isinstance(translated, TransactionRollbackError) == (
        expected in (Deadlocked, SerializationFailure)
    )


def test_session_settings_isolation_and_statement_timeout_per_server() -> None:
    mariadb = server_facts((1, 1, "10.11.19-MariaDB", 1 << 24))
    mysql8 = server_facts((1, 2, "8.0.36", 1 << 26))
    assert session_settings(MySQLConfig(), mariadb) == [
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"
    ]
    config = MySQLConfig(isolation_level="serializable", statement_timeout=2.5)
    assert session_settings(config, mariadb) == [
        "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        "SET SESSION max_statement_time = 2.5",  # MariaDB: seconds
    ]
    assert session_settings(config, mysql8)[1] == "SET SESSION max_execution_time = 2500"
    assert mysql8.max_packet == 1 << 26 and mariadb.statement_budget < 1 << 24


def test_server_options_from_the_url() -> None:
    config = MySQLConfig.from_url(
        "mysql://root@127.0.0.1/test?pool_timeout=0.25&pool_pre_ping=true"
        "&isolation_level=repeatable_read&statement_timeout=1.5"
    )
    assert (config.pool_timeout, config.pool_pre_ping) == (0.25, True)
    assert (config.isolation_level, config.statement_timeout) == ("REPEATABLE READ", 1.5)
    with pytest.raises(ConfigurationError, match="acquire_timeout"):
        MySQLConfig.from_url("mysql://root@127.0.0.1/test?acquire_timeout=1")


def test_insert_shape_recognises_only_the_compiled_multi_row_insert() -> None:
    sql = "INSERT INTO `t` (`a`, `b`) VALUES (%s, %s), (%s, %s), (%s, %s)"
    shape = insert_shape(sql, 6)
    assert shape is not None and (shape.width, shape.row_count) == (2, 3)
    assert shape.sql(2) == "INSERT INTO `t` (`a`, `b`) VALUES (%s, %s), (%s, %s)"
    assert insert_shape(sql, 5) is None
    assert insert_shape(sql + " ON DUPLICATE KEY UPDATE a = a", 6) is None
    assert insert_shape("UPDATE t SET a = %s", 1) is None


def test_packet_parts_keep_every_statement_within_the_budget() -> None:
    sql = "INSERT INTO `t` (`a`, `b`, `c`) VALUES " + ", ".join(["(%s, %s, %s)"] * 50)
    shape = insert_shape(sql, 150)
    assert shape is not None
    literals = [b"'" + b"x" * ((i * 37) % 400) + b"'" for i in range(150)]
    budget = 2000
    parts = packet_parts(shape, [len(v) for v in literals], budget)
    assert sum(parts) == 50 and len(parts) > 1
    start = 0
    for rows in parts:
        chunk = tuple(literals[start * 3 : (start + rows) * 3])
        statement = shape.sql(rows).encode() % chunk
        assert len(statement) <= budget  # what is sent fits, exactly measured
        start += rows
    # Each part is as full as it can be: one more row would not have fitted.
    first = parts[0]
    fuller = shape.sql(first + 1).encode() % tuple(literals[: (first + 1) * 3])
    assert len(fuller) > budget
    # A row bigger than the budget alone gets a part of its own.
    assert packet_parts(shape, [budget] * 150, budget) == [1] * 50
