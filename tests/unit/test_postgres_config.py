"""PostgresConfig without a database: URL parsing, option coercion and validation,
password masking, the libpq arguments a config produces, and message scrubbing."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from twinrecord.backends import resolve_url
from twinrecord.backends.postgres import (
    AsyncPostgresBackend,
    PostgresBackend,
    PostgresConfig,
    connect_arguments,
    native_sql,
    scrubbed_reason,
)
from twinrecord.errors import ConfigurationError


def test_defaults() -> None:
    config = PostgresConfig(database="app")
    assert (config.host, config.port, config.user, config.password) == (
        "127.0.0.1", 5432, None, None,
    )
    assert (config.pool_size, config.pool_min_size, config.connect_timeout) == (10, 1, 10.0)
    assert config.statement_timeout is None and config.sslmode is None
    assert config.application_name == "twinrecord" and config.log_values is False
    assert config.options == {} and config.server_settings == {}


def test_from_url_reads_every_part_and_coerces_options() -> None:
    config = PostgresConfig.from_url(
        "postgresql://app:s3cret@db.example:6543/shop?pool_size=5&pool_min_size=2"
        "&sslmode=disable&connect_timeout=2.5&statement_timeout=1.5&log_values=true"
        "&application_name=worker"
    )
    assert (config.host, config.port, config.database) == ("db.example", 6543, "shop")
    assert (config.user, config.password) == ("app", "s3cret")
    assert (config.pool_size, config.pool_min_size) == (5, 2)
    assert config.sslmode == "disable" and config.application_name == "worker"
    assert (config.connect_timeout, config.statement_timeout) == (2.5, 1.5)
    assert config.log_values is True


@pytest.mark.parametrize(
    "url", ["postgres://u@h/db", "postgresql://u@h/db", "postgresql+psycopg://u@h/db"]
)
def test_scheme_spellings(url: str) -> None:
    config = PostgresConfig.from_url(url)
    assert (config.user, config.host, config.database) == ("u", "h", "db")


def test_percent_encoded_credentials_are_decoded() -> None:
    config = PostgresConfig.from_url("postgresql://a%40b:p%2Fw%3Ad@h/db")
    assert (config.user, config.password) == ("a@b", "p/w:d")


def test_prepare_threshold_none_from_url() -> None:
    assert PostgresConfig.from_url("postgresql://h/db?prepare_threshold=none").prepare_threshold is None
    assert PostgresConfig.from_url("postgresql://h/db?prepare_threshold=2").prepare_threshold == 2
    assert PostgresConfig.from_url("postgresql://h/db").prepare_threshold == 5


def test_url_options_parameter_is_libpq_options() -> None:
    config = PostgresConfig.from_url("postgresql://h/db?options=-c%20search_path%3Dapp")
    assert config.options == {"options": "-c search_path=app"}
    assert connect_arguments(config)["options"] == "-c search_path=app " + DEFAULT_SETTINGS


@pytest.mark.parametrize(
    ("url", "mentions"),
    [
        ("postgresql://app:hunter2@h/db?bogus_option=1", "bogus_option"),
        ("postgresql://app:hunter2@h/db?pool_size=many", "pool_size"),
        ("postgresql://app:hunter2@h:notaport/db", "malformed"),
        ("postgresql://app:hunter2@h", "names no database"),
        ("postgresql://app:hunter2@h/db?sslmode=sometimes", "sslmode"),
    ],
)
def test_url_errors_quote_the_url_with_password_masked(url: str, mentions: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        PostgresConfig.from_url(url)
    message = str(caught.value)
    assert "hunter2" not in message
    assert mentions in message
    if mentions != "sslmode":   # the value check runs after parsing, on the config
        assert "app:***@h" in message


def test_resolve_url_picks_the_postgres_classes() -> None:
    sync_class, config = resolve_url("postgres://u:pw@h/db?pool_size=3", want_async=False)
    async_class, _ = resolve_url("postgresql://u:pw@h/db", want_async=True)
    assert (sync_class, async_class) == (PostgresBackend, AsyncPostgresBackend)
    assert isinstance(config, PostgresConfig) and config.pool_size == 3


def test_repr_masks_password_and_password_like_options() -> None:
    config = PostgresConfig(
        database="db", user="u", password="hunter2", options={"sslpassword": "keypass"}
    )
    text = repr(config)
    assert "hunter2" not in text and "keypass" not in text
    assert "password='***'" in text and "'sslpassword': '***'" in text
    assert "user='u'" in text and "database='db'" in text


def test_where_names_server_and_database_but_not_password() -> None:
    config = PostgresConfig(host="h", port=1, database="db", user="u", password="hunter2")
    assert config.where == "PostgreSQL server h:1, database 'db' as user 'u'"


@pytest.mark.parametrize(
    "options",
    [
        {"pool_size": 0},
        {"pool_min_size": 11},
        {"pool_min_size": -1},
        {"connect_timeout": 0},
        {"pool_timeout": -1},
        {"statement_timeout": 0},
        {"sslmode": "always"},
    ],
)
def test_invalid_values_are_configuration_errors(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        PostgresConfig(database="db", **options)


def test_connect_arguments() -> None:
    config = PostgresConfig(
        host="h", port=6000, database="db", user="u", password="pw", sslmode="require",
        connect_timeout=0.5, statement_timeout=1.25,
        server_settings={"search_path": "a b", "synchronous_commit": "off"},
        options={"target_session_attrs": "read-write", "options": "-c work_mem=4MB"},
    )
    arguments = connect_arguments(config)
    assert arguments["dbname"] == "db" and arguments["port"] == 6000
    assert arguments["password"] == "pw" and arguments["sslmode"] == "require"
    assert arguments["connect_timeout"] == 2      # libpq's minimum
    assert arguments["target_session_attrs"] == "read-write"
    assert arguments["application_name"] == "twinrecord"
    assert arguments["options"] == (
        "-c work_mem=4MB -c TimeZone=UTC -c default_transaction_isolation=read\\ committed "
        "-c search_path=a\\ b -c synchronous_commit=off -c statement_timeout=1250ms"
    )


def test_connect_arguments_leave_out_what_is_not_set() -> None:
    arguments = connect_arguments(PostgresConfig(database="db", connect_timeout=7.2))
    assert arguments["connect_timeout"] == 8
    assert not {"user", "password", "sslmode"} & set(arguments)
    assert arguments["options"] == DEFAULT_SETTINGS


# Every session: UTC (no value goes through a role's or server's zone, §8) and the
# config's isolation level for transactions without one (§5).
DEFAULT_SETTINGS = "-c TimeZone=UTC -c default_transaction_isolation=read\\ committed"


def test_server_settings_override_the_session_defaults_whatever_their_case() -> None:
    config = PostgresConfig(
        database="db", isolation_level="serializable",
        server_settings={"timezone": "Europe/Berlin"},
    )
    assert connect_arguments(config)["options"] == (
        "-c default_transaction_isolation=serializable -c timezone=Europe/Berlin"
    )


def test_constructing_backends_opens_no_connection() -> None:
    # Port 1 refuses connections: construction must not try (the first statement does).
    config = PostgresConfig(port=1, database="db")
    PostgresBackend(config).close()
    AsyncPostgresBackend(config)._close_unawaited()


def _error(state: str, primary: str, hint: str | None = None) -> Any:
    diag = SimpleNamespace(message_primary=primary, message_hint=hint, constraint_name=None)
    return SimpleNamespace(sqlstate=state, diag=diag)


def test_data_exception_messages_hide_every_quoted_value() -> None:
    error = _error("22P02", 'invalid input syntax for type integer: "secret-value"')
    reason = scrubbed_reason(error, ["secret-value"])
    assert "secret-value" not in reason
    assert reason == 'invalid input syntax for type integer: "<value hidden>" [SQLSTATE 22P02]'


def test_identifiers_stay_unless_they_equal_a_parameter() -> None:
    error = _error("42P01", 'relation "nope" does not exist', hint='Perhaps "secret" ?')
    reason = scrubbed_reason(error, ["secret"])
    assert '"nope"' in reason and "secret" not in reason
    assert reason.endswith("[SQLSTATE 42P01]")


@pytest.mark.parametrize(
    ("driver_sql", "native"),
    [
        ("SELECT 1", b"SELECT 1"),
        ("SELECT * FROM t WHERE a = %s AND b IN (%s, %s)", b"SELECT * FROM t WHERE a = $1 AND b IN ($2, $3)"),
        ("SELECT '100%%' || %s, 'x%%s'", b"SELECT '100%' || $1, 'x%s'"),
        ("SELECT %s%%%s", b"SELECT $1%$2"),
    ],
)
def test_native_sql_numbers_placeholders_and_unescapes_percent(driver_sql: str, native: bytes) -> None:
    assert native_sql(driver_sql) == native
    assert native_sql(driver_sql) is native_sql(driver_sql)     # translated once, then cached


def test_native_sql_of_a_large_statement() -> None:
    sql = "INSERT INTO t (a, b) VALUES " + ", ".join(["(%s, %s)"] * 5000)
    native = native_sql(sql)
    assert native.endswith(b"($9999, $10000)") and b"%" not in native


# ---- pgbouncer=True (docs/replicas.md) ------------------------------------------------------
def test_pgbouncer_never_prepares_and_sends_no_options() -> None:
    from twinrecord.backends.postgres._core import connect_arguments, pgbouncer_setup

    config = PostgresConfig.from_url("postgresql://app@bouncer:6432/app?pgbouncer=true")
    assert config.pgbouncer is True and config.prepare_threshold is None
    arguments = connect_arguments(config)
    assert "options" not in arguments                    # PgBouncer refuses it
    sql, params = pgbouncer_setup(config)  # type: ignore[misc]
    assert sql == "SELECT set_config(%s, %s, false)" and params == ["TimeZone", "UTC"]
    zoned = PostgresConfig(database="app", pgbouncer=True,
                           server_settings={"timezone": "Europe/Paris", "DateStyle": "ISO"})
    assert pgbouncer_setup(zoned) == (
        "SELECT set_config(%s, %s, false), set_config(%s, %s, false)",
        ["timezone", "Europe/Paris", "DateStyle", "ISO"],
    )
    assert pgbouncer_setup(PostgresConfig(database="app")) is None


def test_pgbouncer_refuses_what_transaction_pooling_would_lose() -> None:
    with pytest.raises(ConfigurationError, match=r"statement_timeout.*ALTER ROLE"):
        PostgresConfig(database="app", pgbouncer=True, statement_timeout=5)
    with pytest.raises(ConfigurationError, match="'search_path'"):
        PostgresConfig(database="app", pgbouncer=True, server_settings={"search_path": "x"})
    with pytest.raises(ConfigurationError, match="options"):
        PostgresConfig(database="app", pgbouncer=True, options={"options": "-c geqo=off"})


def test_pgbouncer_transactions_name_their_isolation_level() -> None:
    from twinrecord.backends.postgres import AsyncPostgresBackend, PostgresBackend

    config = PostgresConfig(database="app", pgbouncer=True, isolation_level="repeatable read")
    assert PostgresBackend(config).default_isolation == "REPEATABLE READ"
    assert AsyncPostgresBackend(config).default_isolation == "REPEATABLE READ"
    assert PostgresBackend(PostgresConfig(database="app")).default_isolation is None
