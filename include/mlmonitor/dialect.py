"""What each warehouse's SQL can do, declared once. The rest of the core asks these capabilities (or
uses the portable expressions and column types below) and never branches on a database's name.

PostgreSQL, SQLite and MariaDB are tested; any other SQLAlchemy dialect gets the portable forms
(`PORTABLE`): plain `count(CASE ...)` aggregates, one ordered pass per quantile column, no locks.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from mlmonitor.errors import WarehouseUnavailable

LockKind = Literal["transaction", "session"]


@dataclass(frozen=True, kw_only=True)
class Capabilities:
    """One dialect's abilities that decide which SQL form mlmonitor uses."""

    # NUMERIC of unbounded precision: per-bin counts packed into 12-digit fields of one exact sum
    # (PostgreSQL). Elsewhere DECIMAL stops at 38 (65 on MariaDB) digits, too few for 10+ bins.
    packed_counts: bool = False
    # `count(*) FILTER (WHERE ...)` (PostgreSQL, SQLite >= 3.30: 1.2-1.6x faster than a CASE there);
    # without it `count(CASE WHEN ... THEN 1 END)`, which every SQL database accepts.
    aggregate_filter: bool = False
    # `percentile_disc(p) WITHIN GROUP (ORDER BY x)` as an aggregate: every quantile of a column in
    # one pass (PostgreSQL). Without it: one ordered pass per column with row_number().
    ordered_set_quantiles: bool = False
    # whether a float column can hold NaN / +-infinity (and the driver can bind them): if not, a
    # check for them has nothing to find and must not send them (PyMySQL refuses to).
    stores_nan: bool = True
    stores_infinity: bool = True
    # serialising writers of one results window: a lock released at commit (PostgreSQL's
    # pg_advisory_xact_lock), one held by the session until released (GET_LOCK), or none.
    window_lock: LockKind | None = None
    # a collation that makes `=` and GROUP BY on text exact (case- and trailing-space-sensitive),
    # where the default one is not (MySQL/MariaDB: 'a' = 'A' and 'a ' = 'a' under utf8mb4_general_ci)
    exact_collation: str | None = None
    # driver error codes (first argument of the DBAPI exception) of a lost or refused connection, a
    # deadlock or a lock timeout: worth a retry. None: every OperationalError is (psycopg2's are).
    transient_codes: frozenset[int] | None = None
    # SQLite reports SQL mistakes as OperationalError too: only these messages are transient
    transient_messages: tuple[str, ...] = ()
    # driver error codes of a float overflow in an aggregate (MySQL/MariaDB 1690 "value is out of
    # range"); PostgreSQL's SQLSTATE 22003 is recognised on every dialect, SQLite returns infinity
    overflow_codes: frozenset[int] = frozenset()
    # how a session bounds the time of each statement (`{ms}` / `{s}`: the limit), or None
    statement_timeout: str | None = None
    # the driver interrupts a statement from a progress callback (SQLite): the deadline is kept here
    interrupt_handler: bool = False


PORTABLE = Capabilities()

POSTGRESQL = Capabilities(
    packed_counts=True,
    aggregate_filter=True,
    ordered_set_quantiles=True,
    window_lock="transaction",
    statement_timeout="SET statement_timeout = {ms}",
)
# SQLite turns a NaN into NULL on insert; the file lock serialises writers
SQLITE = Capabilities(
    aggregate_filter=True,
    stores_nan=False,
    transient_messages=("database is locked", "unable to open database"),
    statement_timeout="PRAGMA busy_timeout = {ms}",  # waiting for a lock; running is interrupted
    interrupt_handler=True,
)
# MySQL client and server error codes: 1040 too many connections, 1205 lock wait timeout,
# 1213 deadlock, 2002/2003 cannot connect, 2006 server gone away, 2013 lost connection,
# 2055 lost connection at a system error
_MYSQL_TRANSIENT = frozenset({1040, 1205, 1213, 2002, 2003, 2006, 2013, 2055})


def _mysql(dialect: Dialect) -> Capabilities:
    if getattr(dialect, "is_mariadb", False):
        collation = "utf8mb4_nopad_bin"
    elif (getattr(dialect, "server_version_info", None) or (0,)) >= (8,):
        collation = "utf8mb4_0900_bin"
    else:
        collation = "utf8mb4_bin"  # MySQL 5.7 has no NO PAD binary collation
    mariadb = bool(getattr(dialect, "is_mariadb", False))
    # MariaDB bounds any statement (seconds); MySQL bounds SELECTs (milliseconds)
    timeout = "SET SESSION max_statement_time = {s}" if mariadb else "SET SESSION max_execution_time = {ms}"
    return Capabilities(
        stores_nan=False,
        stores_infinity=False,
        window_lock="session",
        exact_collation=collation,
        transient_codes=_MYSQL_TRANSIENT,
        overflow_codes=frozenset({1690}),
        statement_timeout=timeout,
    )


def capabilities(dialect: Dialect) -> Capabilities:
    """The capabilities of a dialect (of an engine's, a connection's or a compiler's)."""
    if dialect.name == "postgresql":
        return POSTGRESQL
    if dialect.name == "sqlite":
        return SQLITE
    if dialect.name in ("mysql", "mariadb"):
        return _mysql(dialect)
    return PORTABLE


# --- portable expressions ------------------------------------------------------------------------


def as_float(expr: sa.ColumnElement[Any]) -> sa.ColumnElement[float]:
    """`expr` as a double-precision number on every dialect (MariaDB's CAST AS FLOAT is 4 bytes)."""
    return sa.cast(expr, sa.Double())


class exact_text(FunctionElement[str]):
    """A column as text whose `=`, IN and GROUP BY compare exactly on every dialect (with the
    dialect's exact collation where its default one ignores case or trailing spaces)."""

    type = sa.String()
    name = "exact_text"
    inherit_cache = True


@compiles(exact_text)
def _compile_exact_text(element: exact_text, compiler: SQLCompiler, **kw: Any) -> str:
    (col,) = element.clauses
    collation = capabilities(compiler.dialect).exact_collation
    if collation is None:
        text = col if isinstance(col.type, sa.String) else sa.cast(col, sa.String)
        return compiler.process(text, **kw)
    # convert to the collation's character set first: the column may be stored in another one
    return compiler.process(sa.collate(sa.cast(col, mysql.CHAR(charset="utf8mb4")), collation), **kw)


def for_great_expectations(url: sa.URL) -> sa.URL:
    """The URL Great Expectations gets: GE 1.x knows MariaDB only as `mysql` (for its identifier
    quoting and type names), so `mariadb+driver://` goes to it as `mysql+driver://`, same server."""
    if url.get_backend_name() == "mariadb":
        return url.set(drivername=f"mysql+{url.get_driver_name()}")
    return url


# --- portable column types of the tables mlmonitor creates ---------------------------------------

_MYSQL = ("mysql", "mariadb")
# 8-byte floats (FLOAT is 4 bytes on MySQL/MariaDB)
Double = sa.Float().with_variant(mysql.DOUBLE(asdecimal=False), *_MYSQL)
# naive UTC with microseconds (MySQL/MariaDB's DATETIME drops them: a bound would not match)
UtcDateTime = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *_MYSQL)
# unbounded text (MySQL/MariaDB's TEXT stops at 64 KiB)
LongText = sa.Text().with_variant(mysql.LONGTEXT(), *_MYSQL)


# --- serialising writers -------------------------------------------------------------------------


_LOCK_WAIT = 3600  # seconds a writer waits for another writer of the same window


@contextmanager
def locked_transaction(engine: sa.Engine, token: str) -> Iterator[Connection]:
    """A transaction during which no other `locked_transaction` of the same token runs (where the
    dialect has advisory locks; elsewhere a plain transaction)."""
    kind = capabilities(engine.dialect).window_lock
    name = "mlmonitor:" + hashlib.sha256(token.encode()).hexdigest()[:40]  # GET_LOCK names: <= 64 chars
    with engine.connect() as conn:
        try:
            with conn.begin():
                if kind == "transaction":
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(token, 0))))
                elif kind == "session" and conn.execute(sa.select(sa.func.get_lock(name, _LOCK_WAIT))).scalar() != 1:
                    raise WarehouseUnavailable(f"{token}: another writer held its lock for {_LOCK_WAIT} s; retried")
                yield conn
        finally:
            if kind == "session" and not conn.invalidated:
                # the lock outlives the transaction; a lost session has released it already
                with suppress(sa.exc.DBAPIError):
                    conn.execute(sa.select(sa.func.release_lock(name)))
                    conn.commit()


def is_transient(dialect: Dialect, exc: sa.exc.DBAPIError) -> bool:
    """Whether a database error is a lost or refused connection (or a deadlock): worth a retry,
    unlike a mistake in the SQL or the data."""
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)):
        return False
    caps = capabilities(dialect)
    if caps.transient_messages:
        return any(s in str(exc.orig) for s in caps.transient_messages)
    if caps.transient_codes is not None:
        args: tuple[Any, ...] = getattr(exc.orig, "args", ())
        return isinstance(exc, sa.exc.InterfaceError) or (bool(args) and args[0] in caps.transient_codes)
    return True


def is_overflow(dialect: Dialect, exc: sa.exc.DBAPIError) -> bool:
    """Whether a database error is a number out of range (a sum or square beyond double precision)."""
    orig = exc.orig
    if getattr(orig, "pgcode", None) == "22003" or getattr(orig, "sqlstate", None) == "22003":
        return True
    args: tuple[Any, ...] = getattr(orig, "args", ())
    return bool(args) and args[0] in capabilities(dialect).overflow_codes


# --- bounding statements -------------------------------------------------------------------------


def limit_statements(engine: sa.Engine, seconds: float) -> sa.Engine:
    """Make every statement on `engine` give up after `seconds`, so a slow or locked database answers
    with an error instead of holding the caller (the UI's reads), the way its dialect can: a session
    setting (`statement_timeout`), and on SQLite a progress callback interrupting a statement past its
    deadline. Dialects with neither keep their defaults. Returns `engine`."""
    caps = capabilities(engine.dialect)
    setting = (caps.statement_timeout or "").format(ms=max(int(seconds * 1000), 1), s=f"{seconds:g}")

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        if caps.interrupt_handler:
            deadline = [float("inf")]
            record.info["mlmonitor_deadline"] = deadline
            dbapi_conn.set_progress_handler(lambda: int(time.monotonic() > deadline[0]), 1000)
        if setting:
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute(setting)
            finally:
                cursor.close()

    if caps.interrupt_handler:

        @sa.event.listens_for(engine, "before_cursor_execute")
        def _start_clock(conn: Any, *args: Any) -> None:
            deadline = conn.connection.info.get("mlmonitor_deadline")
            if deadline is not None:
                deadline[0] = time.monotonic() + seconds

    return engine
