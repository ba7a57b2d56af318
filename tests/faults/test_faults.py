"""Bad days with real components: the warehouse drops out mid-run, a results write fails halfway,
two writers race on one window, the suite or baseline is missing or corrupt, the results database
fails right after an alert was posted."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import select
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor import pipeline
from mlmonitor.alerting.destinations import LocalFile
from mlmonitor.alerting.message import Alert
from mlmonitor.cli import run_window
from mlmonitor.config import get_model
from mlmonitor.demo import START, write_demo
from mlmonitor.errors import BaselineMissing, WarehouseUnavailable
from mlmonitor.metrics import Metric, RunSummary
from mlmonitor.project import GxProject
from mlmonitor.storage import alert_state
from mlmonitor.storage.results import read_metrics, read_runs, write_results
from mlmonitor.window import Window
from tests.factories import model_config
from tests.warehouses import WAREHOUSES

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DAY = Window.of(START, START + dt.timedelta(days=1))


class TcpProxy:
    """A TCP forwarder in front of PostgreSQL that the test can take down (refusing new connections
    and cutting open ones) and bring back on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._server: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server:
            server.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked in the other thread
            server.close()
        with self._lock:
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._open.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._open += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 1.0)
                for src in ready:
                    data = src.recv(65536)
                    if not data:
                        return
                    (b if src is a else a).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            a.close()
            b.close()


@pytest.fixture(params=[server for server in WAREHOUSES if server != "sqlite"])
def server(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """The demo data on a scratch PostgreSQL, then a scratch MariaDB database (servers a proxy can cut)."""
    engine = sa.create_engine(request.getfixturevalue(f"{request.param}_database")["url"])
    write_demo(engine, days=[0])
    yield engine
    engine.dispose()


@pytest.fixture
def pg(postgres_database: dict[str, str]) -> Iterator[Engine]:
    engine = sa.create_engine(postgres_database["url"])
    write_demo(engine, days=[0])
    yield engine
    engine.dispose()


@pytest.fixture
def proxy(server: Engine) -> Iterator[TcpProxy]:
    p = TcpProxy((server.url.host or "127.0.0.1", server.url.port or server.dialect.default_port or 0))
    p.start()
    yield p
    p.stop()


def _via(proxy: TcpProxy, server: Engine) -> Engine:
    return sa.create_engine(server.url.set(host="127.0.0.1", port=proxy.port))


def _derive(engine: Engine, project: GxProject) -> None:
    import great_expectations as gx

    pipeline.derive(get_model("carloan"), engine, project, gx.__version__)


def _rows(engine: Engine) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return read_runs(engine, "carloan"), read_metrics(engine, "carloan")


def _assert_one_set(engine: Engine) -> None:
    runs, metrics = _rows(engine)
    assert [(r["window_start"], r["status"]) for r in runs] == [(START, "ok")]
    keys = [(m["check_name"], m["column_name"], m["metric"]) for m in metrics]
    assert len(keys) == len(set(keys)) > 20


def test_warehouse_refusing_connections_mid_run_is_retryable_and_leaves_no_rows(
    server: Engine, proxy: TcpProxy, project: GxProject
) -> None:
    from mlmonitor_airflow.dag_factory import fail_fast

    model = get_model("carloan")
    _derive(server, project)
    engine = _via(proxy, server)
    prepared = pipeline.prepare(model, engine, project, DAY)
    assert prepared.rows > 1000
    proxy.stop()  # the warehouse goes away between two queries of the stats task
    with pytest.raises(
        WarehouseUnavailable,
        match=r"cannot reach the (warehouse|results database) .*"
        r"(Connection refused|server closed the connection unexpectedly|Lost connection to (MySQL|MariaDB) server)"
        r".*; the task is retried",
    ):
        fail_fast(pipeline.analyse, model, engine, engine, prepared, DAY)  # re-raised as-is: Airflow retries
    with pytest.raises(WarehouseUnavailable, match="cannot reach the warehouse"):
        pipeline.prepare(model, _via(proxy, server), project, DAY)  # and refuses new connections
    assert _rows(server) == ([], [])

    proxy.start()  # it recovers: the retry (a new task process, a new engine) completes the window
    summary = run_window(model, _via(proxy, server), DAY, None)
    assert summary.status == "ok"
    _assert_one_set(server)


@pytest.mark.postgres
def test_results_connection_lost_during_the_write_rolls_back(pg: Engine) -> None:
    write_results(pg, _summary("first"), _metrics(1.0), dt.datetime(2024, 1, 1))
    # the server drops the connection in the middle of the metric inserts of the second write
    with pg.begin() as conn:
        conn.exec_driver_sql(
            "CREATE FUNCTION cut() RETURNS trigger AS $$ BEGIN IF NEW.metric = 'cut' THEN "
            "PERFORM pg_terminate_backend(pg_backend_pid()); END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER cut BEFORE INSERT ON mlmonitor_metrics FOR EACH ROW EXECUTE FUNCTION cut()"
        )
    rows = [*_metrics(2.0, 25), Metric(check="drift", column="x", metric="cut", value=0.0), *_metrics(2.0, 50)[25:]]
    with pytest.raises(WarehouseUnavailable, match=r"cannot reach the results database .* the task is retried"):
        write_results(pg, _summary("second"), rows, dt.datetime(2024, 1, 2))
    assert [r["message"] for r in read_runs(pg, "m")] == ["first"]
    metrics = read_metrics(pg, "m")
    assert len(metrics) == 50 and {m["value"] for m in metrics} == {1.0}


@pytest.mark.mariadb
def test_results_connection_lost_during_the_write_rolls_back_on_mariadb(mariadb_database: dict[str, str]) -> None:
    """As above on MariaDB, whose triggers cannot end their session: the metric insert stalls on a
    row and the connection is cut through a proxy meanwhile."""
    direct = sa.create_engine(mariadb_database["url"])
    write_results(direct, _summary("first"), _metrics(1.0), dt.datetime(2024, 1, 1))
    with direct.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER cut BEFORE INSERT ON mlmonitor_metrics FOR EACH ROW "
            "IF NEW.metric = 'cut' THEN DO SLEEP(3); END IF"
        )
    proxy = TcpProxy((direct.url.host or "127.0.0.1", direct.url.port or 3306))
    proxy.start()
    cutter = threading.Timer(1.0, proxy.stop)
    cutter.start()
    rows = [*_metrics(2.0, 25), Metric(check="drift", column="x", metric="cut", value=0.0), *_metrics(2.0, 50)[25:]]
    try:
        with pytest.raises(WarehouseUnavailable, match=r"cannot reach the results database .* the task is retried"):
            write_results(_via(proxy, direct), _summary("second"), rows, dt.datetime(2024, 1, 2))
    finally:
        cutter.join()
        proxy.stop()
    assert [r["message"] for r in read_runs(direct, "m")] == ["first"]
    metrics = read_metrics(direct, "m")
    assert len(metrics) == 50 and {m["value"] for m in metrics} == {1.0}
    direct.dispose()


@pytest.fixture
def results_db(engine: Engine) -> Engine:
    """The SQLite, PostgreSQL and MariaDB engines of conftest."""
    return engine


def _summary(message: str, model: str = "m") -> RunSummary:
    return RunSummary(
        model=model,
        window_start=DAY.start.isoformat(),
        window_end=DAY.end.isoformat(),
        rows=10,
        model_versions={},
        status="ok",
        failed_expectations=0,
        drifted_features=0,
        message=message,
    )


def _metrics(value: float, n: int = 50) -> list[Metric]:
    return [Metric(check="drift", column=f"c{i}", metric="psi", value=value) for i in range(n)]


def test_a_results_write_failing_halfway_rolls_back(results_db: Engine) -> None:
    write_results(results_db, _summary("first"), _metrics(1.0), dt.datetime(2024, 1, 1))
    # the database rejects one metric row in the middle of the second write
    if results_db.dialect.name == "postgresql":
        ddl = [
            "CREATE FUNCTION reject_poison() RETURNS trigger AS $$ BEGIN "
            "IF NEW.metric = 'poison' THEN RAISE EXCEPTION 'poison row rejected'; END IF; RETURN NEW; END $$ "
            "LANGUAGE plpgsql",
            "CREATE TRIGGER reject_poison BEFORE INSERT ON mlmonitor_metrics "
            "FOR EACH ROW EXECUTE FUNCTION reject_poison()",
        ]
    elif results_db.dialect.name == "mysql":
        ddl = [
            "CREATE TRIGGER reject_poison BEFORE INSERT ON mlmonitor_metrics FOR EACH ROW "
            "IF NEW.metric = 'poison' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'poison row rejected'; END IF"
        ]
    else:
        ddl = [
            "CREATE TRIGGER reject_poison BEFORE INSERT ON mlmonitor_metrics WHEN NEW.metric = 'poison' "
            "BEGIN SELECT RAISE(ABORT, 'poison row rejected'); END"
        ]
    with results_db.begin() as conn:
        for statement in ddl:
            conn.exec_driver_sql(statement)
    rows = [*_metrics(2.0, 25), Metric(check="drift", column="x", metric="poison", value=0.0), *_metrics(2.0, 50)[25:]]
    with pytest.raises(sa.exc.DBAPIError, match="poison row rejected"):
        write_results(results_db, _summary("second"), rows, dt.datetime(2024, 1, 2))
    runs = read_runs(results_db, "m")
    metrics = read_metrics(results_db, "m")
    assert [r["message"] for r in runs] == ["first"]
    assert len(metrics) == 50 and {m["value"] for m in metrics} == {1.0}


@pytest.mark.parametrize("first_write", [False, True], ids=["rewrite", "first-write"])
def test_the_same_window_written_concurrently_ends_with_one_set_of_rows(results_db: Engine, first_write: bool) -> None:
    """Two writers of one window at once: one set of rows, never a mix or an error. A first write
    (no rows yet) is the hard case on MariaDB: both DELETEs find nothing and take compatible gap locks,
    then both INSERTs deadlock unless the writers queue on GET_LOCK."""
    write_results(results_db, _summary("warm-up"), _metrics(0.0), dt.datetime(2024, 1, 1))  # tables exist
    for round_ in range(5):
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []
        model = f"fresh{round_}" if first_write else "m"

        def writer(
            value: float, barrier: threading.Barrier = barrier, errors: list[BaseException] = errors, model: str = model
        ) -> None:
            try:
                barrier.wait()
                summary = _summary(f"writer {value}", model)
                write_results(results_db, summary, _metrics(value), dt.datetime(2024, 1, 1))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(float(v),)) for v in (1, 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, f"round {round_}: {errors}"
        (run,) = read_runs(results_db, model)
        metrics = read_metrics(results_db, model)
        # exactly one writer's set, never a mix
        assert len(metrics) == 50 and {m["value"] for m in metrics} == {float(run["message"].split()[-1])}


def test_duplicate_metric_keys_in_one_run_are_a_clear_error(results_db: Engine) -> None:
    rows = [*_metrics(1.0, 2), Metric(check="drift", column="c1", metric="psi", value=3.0)]
    with pytest.raises(ValueError, match=r"metric \('drift', 'c1', 'psi'\) appears twice"):
        write_results(results_db, _summary("dup"), rows, dt.datetime(2024, 1, 1))
    assert read_runs(results_db, "m") == []


def test_missing_or_corrupt_baseline_says_how_to_rederive(sqlite_database: dict[str, str], project: GxProject) -> None:
    engine = sa.create_engine(sqlite_database["url"])
    write_demo(engine, days=[0])
    model = get_model("carloan")
    with pytest.raises(BaselineMissing, match=r"no drift baseline at .*mlmonitor baseline carloan"):
        pipeline.prepare(model, engine, project, DAY)
    _derive(engine, project)
    path = project.baseline_path("carloan")
    path.write_text(path.read_text()[:200])  # truncated by a full disk
    with pytest.raises(BaselineMissing, match=r"baseline .* is corrupt .*mlmonitor_carloan_baseline"):
        pipeline.prepare(model, engine, project, DAY)
    path.write_text(json.dumps({"model": "carloan"}))  # valid JSON, wrong shape
    with pytest.raises(BaselineMissing, match="is corrupt"):
        pipeline.prepare(model, engine, project, DAY)


def test_missing_or_corrupt_suite_says_how_to_rederive(sqlite_database: dict[str, str], project: GxProject) -> None:
    engine = sa.create_engine(sqlite_database["url"])
    write_demo(engine, days=[0])
    model = get_model("carloan")
    _derive(engine, project)
    suite = project.suites_dir / "carloan.json"
    text = suite.read_text()
    suite.unlink()
    with pytest.raises(BaselineMissing, match=r"no expectation suite at .*mlmonitor baseline carloan"):
        run_window(model, engine, DAY, None)
    suite.write_text(text[: len(text) // 2])  # truncated
    with pytest.raises(
        BaselineMissing, match=r"suite .* is not valid JSON .*re-derive with `mlmonitor baseline carloan`"
    ):
        run_window(model, engine, DAY, None)
    with pytest.raises(BaselineMissing, match="is not valid JSON"):  # re-deriving keeps manual edits: it reads it too
        _derive(engine, project)
    suite.write_text("[]")
    with pytest.raises(BaselineMissing, match="is not a GE suite"):
        run_window(model, engine, DAY, None)
    suite.unlink()
    _derive(engine, project)  # the documented fix works
    assert run_window(model, engine, DAY, None).status == "ok"
    assert read_runs(engine, "carloan")[0]["status"] == "ok"


@dataclass
class PostThenFail:
    """The local alerts file as the destination, and right after each post the results database fails
    (`take_down`): the worst moment, the message is out and its alert state not yet confirmed."""

    path: Path
    take_down: Callable[[], None]

    def send(self, alert: Alert) -> str:
        where = LocalFile(self.path).send(alert)
        self.take_down()
        return where


@pytest.fixture(params=WAREHOUSES)
def failing_results(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Engine, Callable[[], None], Callable[[], None]]]:
    """(an engine on the results database, take it down, bring it back): a proxy a test can cut in front of
    PostgreSQL and MariaDB; on SQLite another connection holding an exclusive lock."""
    db = request.getfixturevalue(f"{request.param}_database")
    if request.param == "sqlite":
        engine = sa.create_engine(db["url"], connect_args={"timeout": 0.2})
        blocker = sqlite3.connect(db["name"], isolation_level=None, check_same_thread=False)
        yield engine, lambda: blocker.execute("BEGIN EXCLUSIVE").close(), lambda: blocker.execute("COMMIT").close()
        blocker.close()
    else:
        server = sa.create_engine(db["url"])
        p = TcpProxy((server.url.host or "127.0.0.1", server.url.port or server.dialect.default_port or 0))
        p.start()
        engine = _via(p, server)
        yield engine, p.stop, p.start
        p.stop()
        server.dispose()
    engine.dispose()


def test_the_results_database_failing_after_the_post_does_not_post_twice(
    failing_results: tuple[Engine, Callable[[], None], Callable[[], None]], tmp_path: Path
) -> None:
    """At most once: the row is `sending` before the post; the database fails after it, so `sent` is not
    written and the task fails; its retry finds `sending`, does not post again and marks it sent."""
    from mlmonitor.alerting.message import Links
    from mlmonitor.alerting.notify import notify_window

    engine, take_down, bring_back = failing_results
    model = model_config("m")
    summary = replace(_summary("drift"), status="warning")
    rows = [Metric(check="drift", column="c0", metric="psi", value=0.5, status="warning")]
    write_results(engine, summary, rows, dt.datetime(2024, 1, 1))
    alerts_file = tmp_path / "alerts.jsonl"
    destination = PostThenFail(alerts_file, take_down)
    with pytest.raises(sa.exc.OperationalError):
        notify_window(model, summary, rows, engine, Links(), lambda severity: destination)
    assert len(alerts_file.read_text().splitlines()) == 1  # posted once
    bring_back()
    engine.dispose()  # the retry is a new task process
    state = alert_state.for_window(engine, "m", DAY)[0]
    assert state is not None and state.state == "sending"
    retried = notify_window(model, summary, rows, engine, Links(), lambda severity: LocalFile(alerts_file))
    assert str(retried).startswith("not posted: a alert for this window was posted at")
    assert "not confirmed" in str(retried)
    assert len(alerts_file.read_text().splitlines()) == 1  # not posted again
    state = alert_state.for_window(engine, "m", DAY)[0]
    assert state is not None and state.state == "sent"
    # and the next rerun is an ordinary "already sent"
    assert "already sent" in str(notify_window(model, summary, rows, engine, Links(), lambda s: LocalFile(alerts_file)))


def test_a_failed_post_leaves_the_window_unsent(results_db: Engine, tmp_path: Path) -> None:
    """The post fails (the database is fine): the `sending` row is removed and the retry posts."""
    from mlmonitor.alerting.message import Links
    from mlmonitor.alerting.notify import notify_window

    class Down:
        def send(self, alert: Alert) -> str:
            raise ConnectionError("destination down")

    model = model_config("m")
    summary = replace(_summary("drift"), status="warning")
    rows = [Metric(check="drift", column="c0", metric="psi", value=0.5, status="warning")]
    write_results(results_db, summary, rows, dt.datetime(2024, 1, 1))
    with pytest.raises(ConnectionError):
        notify_window(model, summary, rows, results_db, Links(), lambda severity: Down())
    assert alert_state.for_window(results_db, "m", DAY) == (None, None)
    alerts_file = tmp_path / "alerts.jsonl"
    assert str(notify_window(model, summary, rows, results_db, Links(), lambda s: LocalFile(alerts_file))).startswith(
        "alert sent"
    )
    assert len(alerts_file.read_text().splitlines()) == 1
