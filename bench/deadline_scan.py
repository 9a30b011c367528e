"""The deadline scan over 100,000 open tasks with deadlines of which 5,000 are due, after a worker outage.

Setup (not timed), on a database of its own (PostgreSQL: ``uf_bench_scan`` created on the
server of ``--postgres-url`` / UNIONFLOW_BENCH_DATABASE_URL and dropped afterwards; SQLite: a
file in a temporary directory): migrations and definitions; an org tree of a city, 2 counties,
20 townships and 200 grassroots unions, an applicant per union and two reviewers per township,
county and city, everyone with an email address (so notifications are to be mailed, as in
production); an honours round at the city. Then the deadlines:

1. *Templates*, made by the engine's own operations: per grassroots union one honours
   nomination submitted to its township (``township_review``, 3 working days, reminders 2
   working days before and on the day): case, audit events and the open task.
2. *Copies* of each template with Core ``INSERT … SELECT`` over a number series: the case
   row (numbered title) and its open task. So every row is one the engine wrote for a case
   from that union in that state on that definition version.
3. *Dates*: each open task gets a *profile*, the row as the engine leaves it for a case
   that entered the state at some moment of the last 30 days, when the scans ran every minute
   until the worker went down the evening before ``NOW`` (``OUTAGE``, 18 hours): computed with the engine's
   own ``due_after`` and ``reminder_times``. Every ``open/due``-th row gets a profile that is
   due at ``NOW`` (half a reminder that came during the outage, half a deadline that passed
   during it); the others a profile that is not due (its next reminder or due time is ahead,
   or it was escalated before the outage). The case's ``submitted_dt``/``updated_dt`` follow
   the profile.
   Then ``VACUUM ANALYZE`` / ``ANALYZE``.

Timed: ``engine.operations.deadline_scan.scan_deadlines(session_factory, NOW)`` — what ``unionflow deadlines
scan`` and the worker's tasks run: batches of 500 ids, each batch locked FOR UPDATE SKIP
LOCKED with its cases, acted on, its notifications inserted in one statement, committed.
Then the same scan again (nothing is due any more: the catch-up is done once). Printed:
seconds, rows acted on, notifications stored, RSS before and peak RSS after
(``ru_maxrss`` of the process, setup included). The run fails if the counts are not the
expected ones.

    .venv/bin/python bench/deadline_scan.py                       # PostgreSQL (default URL) and SQLite
    .venv/bin/python bench/deadline_scan.py --postgres-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/deadline_scan.py --quick               # 10,000 open, 500 due
    .venv/bin/python bench/deadline_scan.py --no-sqlite --profile # cProfile of the scan
"""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pstats
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import psutil
from measure import RssSampler, machine, peak_rss_mib, server_version
from sqlalchemy import Column, Integer, MetaData, Table, event, func, insert, make_url, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from engine.base.config import Settings, normalize_database_url
from engine.base.db import UTCDateTime, make_engine, make_session_factory
from engine.calendar.working_days import due_after
from engine.cases.case import Case
from engine.cases.deadlines import reminder_times
from engine.cases.tasks import Task
from engine.operations.deadline_scan import scan_deadlines
from engine.definitions.store import current_definition, sync_definitions
from engine.migrate import upgrade
from engine.notify.notifications import Notification
from engine.operations.transitions import create_draft, submit_case
from engine.org.units import assign_role, create_org_unit, create_user, load_actor
from engine.procedures.rounds import open_round
from engine.runtime import bootstrap, load_models

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE = "uf_bench_scan"
COUNTIES, TOWNSHIPS_PER_COUNTY, UNIONS_PER_TOWNSHIP = 2, 10, 10
REVIEWERS_PER_UNIT = 2
DEFAULT_OPEN, DEFAULT_DUE = 100_000, 5_000
TARGET_SECONDS = 5.0
KIND, STATE = "honours", "township_review"
# A working Friday, 11:00 in Shanghai; the worker was down since 17:00 the day before: the
# deadlines that ended at midnight passed and the 09:00 reminders of the day came meanwhile.
NOW = datetime(2026, 3, 20, 3, 0, tzinfo=timezone.utc)
OUTAGE = timedelta(hours=18)
HISTORY = timedelta(days=30)


# --- Database -------------------------------------------------------------------------------------

def fresh_postgres(server_url: str) -> tuple[Engine, Callable[[], None]]:
    """``uf_bench_scan`` on the server of ``server_url``, new and empty; and how to drop it."""
    url = make_url(normalize_database_url(server_url))
    admin = make_engine(url.set(database="postgres").render_as_string(hide_password=False),
                        isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}"'))
        conn.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    engine = make_engine(url.set(database=DATABASE).render_as_string(hide_password=False))

    def drop() -> None:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}"'))
        admin.dispose()

    return engine, drop




def migrate(engine: Engine, settings: Settings) -> sessionmaker[Session]:
    with engine.begin() as conn:
        upgrade(conn)
    factory = make_session_factory(engine)
    with factory() as session:
        sync_definitions(session, settings.workflows_dir)
        session.commit()
    return factory


# --- Setup through the engine ---------------------------------------------------------------------

def build_org(factory: sessionmaker[Session]) -> list[str]:
    """The org tree with its people; returns the applicants' usernames, one per grassroots union."""
    with factory() as session:
        def person(username: str, role: str, unit) -> None:
            user = create_user(session, username=username, display_name=username, email=f"{username}@example.org")
            assign_role(session, user, role, unit)

        def reviewers(unit, name: str) -> None:
            for r in range(REVIEWERS_PER_UNIT):
                person(f"reviewer_{name}_{r + 1}", "reviewer", unit)

        city = create_org_unit(session, name="示范市总工会", level="city", kind="federation")
        reviewers(city, "city")
        applicants = []
        for c in range(COUNTIES):
            county = create_org_unit(session, name=f"第{c + 1}区总工会", level="county", parent=city, kind="federation")
            reviewers(county, f"{c + 1}")
            for t in range(TOWNSHIPS_PER_COUNTY):
                township = create_org_unit(session, name=f"第{c + 1}-{t + 1}街道总工会", level="township",
                                           parent=county, kind="federation")
                reviewers(township, f"{c + 1}_{t + 1}")
                for u in range(UNIONS_PER_TOWNSHIP):
                    union = create_org_unit(session, name=f"第{c + 1}-{t + 1}-{u + 1}公司工会", level="grassroots",
                                            parent=township)
                    applicants.append(f"applicant_{c + 1}_{t + 1}_{u + 1}")
                    person(applicants[-1], "applicant", union)
        open_round(session, None, kind=KIND, unit=city, title="基准测试评选", year=NOW.year,
                   opens_dt=NOW - timedelta(days=365), closes_dt=NOW + timedelta(days=365),
                   categories=["labour_medal"], settings={"person_awards": [], "veto_items": []})
        session.commit()
        return applicants


def make_templates(factory: sessionmaker[Session], applicants: list[str]) -> list[int]:
    """Per union one nomination, submitted: it waits for its township, with a task and its deadline."""
    ids = []
    with factory() as session:
        round_id = session.scalar(text("SELECT id FROM rounds"))
        for i, username in enumerate(applicants):
            user_id = session.scalar(text("SELECT id FROM users WHERE username = :u"), {"u": username})
            actor = load_actor(session, user_id)
            form = {"award_type": "labour_medal", "nominee_name": f"被推荐人{i}", "employer": "基准公司",
                    "ownership": "public", "merits_summary": "扎根一线多年，业绩突出。"}
            moment = NOW - timedelta(hours=1)
            case = create_draft(session, actor, KIND, form=form, round_id=round_id, now=moment)
            submit_case(session, actor, case, expected_version=case.version, now=moment)
            ids.append(case.id)
        session.commit()
    return ids


# --- Bulk copies ----------------------------------------------------------------------------------

CASE_COLUMNS = [column.name for column in Case.__table__.columns if column.name != "id"]


def _series(dialect: str) -> str:
    return ("generate_series(1, :copies) AS g(n)" if dialect == "postgresql"
            else "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :copies) "
                 "SELECT n FROM s) AS g")


def copy_template(conn, dialect: str, template_id: int, copies: int) -> None:
    """``copies`` copies of the template's case and its open task."""
    title = "t.title || '·' || g.n"
    expressions = []
    for name in CASE_COLUMNS:
        if name == "title":
            expressions.append(title)
        elif name == "form_data":  # the engine derives the title from the nominee's name
            expressions.append(f"jsonb_set(t.form_data, '{{nominee_name}}', to_jsonb({title}))" if dialect == "postgresql"
                               else f"json_set(t.form_data, '$.nominee_name', {title})")
        else:
            expressions.append(f"t.{name}")
    first = conn.scalar(text("SELECT max(id) FROM cases"))
    conn.execute(text(f"INSERT INTO cases ({', '.join(CASE_COLUMNS)}) SELECT {', '.join(expressions)} "
                      f"FROM cases t CROSS JOIN {_series(dialect)} WHERE t.id = :template"),
                 {"template": template_id, "copies": copies})
    last = conn.scalar(text("SELECT max(id) FROM cases"))
    assert last - first == copies, "copies must get consecutive ids (nobody else writes during setup)"
    span = {"template": template_id, "first": first, "last": last}
    conn.execute(text(
        "INSERT INTO tasks (case_id, purpose, case_kind, state, role, unit_id, entered_dt, has_deadline, due_dt, "
        "next_check_dt, reminders_done) "
        "SELECT c.id, t.purpose, t.case_kind, t.state, t.role, t.unit_id, t.entered_dt, t.has_deadline, t.due_dt, "
        "t.next_check_dt, t.reminders_done "
        "FROM cases c JOIN tasks t ON t.case_id = :template AND t.closed_dt IS NULL "
        "WHERE c.id > :first AND c.id <= :last"), span)


# --- Dates: what the engine leaves in a row, scanned every minute until the outage -----------------

@dataclass(frozen=True)
class Profile:
    entered_dt: datetime
    due_dt: datetime
    next_check_dt: datetime | None
    reminders_done: int
    overdue_dt: datetime | None

    @property
    def is_due(self) -> bool:
        return self.next_check_dt is not None and self.next_check_dt <= NOW

    @property
    def escalates(self) -> bool:
        return self.is_due and self.due_dt <= NOW


def profiles(factory: sessionmaker[Session]) -> tuple[list[Profile], list[Profile], list[Profile]]:
    """(reminders due, escalations due, not due) for entries every 17 minutes of the last 30 days."""
    last_scan = NOW - OUTAGE
    found = []
    with factory() as session:
        definition = current_definition(session, KIND)
        state = definition.state(STATE)
        entered = NOW - HISTORY
        while entered < last_scan:
            due = due_after(session, entered, state.deadline_working_days)
            times = [when for _offset, when in reminder_times(session, definition, state, due)]
            if due <= last_scan:  # escalated by the first scan after its due time
                found.append(Profile(entered, due, None, len(times), due + timedelta(minutes=1)))
            else:  # the reminders whose time came before the outage are behind it
                done = sum(1 for when in times if when <= last_scan)
                found.append(Profile(entered, due, times[done] if done < len(times) else due, done, None))
            entered += timedelta(minutes=17)
    reminders = [p for p in found if p.is_due and not p.escalates]
    escalations = [p for p in found if p.escalates]
    ahead = [p for p in found if not p.is_due and p.overdue_dt is None]
    overdue = [p for p in found if p.overdue_dt is not None]
    if not (reminders and escalations and ahead and len(overdue) >= len(ahead)):
        raise SystemExit("the profiles do not cover every kind of row: check NOW, OUTAGE and HISTORY")
    # Of the rows not due, two thirds wait for a reminder or their due time, a third were
    # escalated before the outage and still wait for the reviewers.
    return reminders, escalations, ahead + ahead + overdue[-len(ahead):]


PROFILE_TABLE = Table(
    "bench_deadline_profiles", MetaData(),
    Column("task_id", Integer, primary_key=True),
    Column("entered_dt", UTCDateTime), Column("due_dt", UTCDateTime), Column("next_check_dt", UTCDateTime),
    Column("reminders_done", Integer), Column("overdue_dt", UTCDateTime),
)


def date_rows(engine: Engine, factory: sessionmaker[Session], due_share: int) -> None:
    """Every ``due_share``-th open row due (reminders and escalations by turns), the others not."""
    reminders, escalations, not_due = profiles(factory)
    with engine.begin() as conn:
        ids = list(conn.scalars(text("SELECT id FROM tasks WHERE closed_dt IS NULL ORDER BY id")))
        rows = []
        for r, task_id in enumerate(ids):
            if r % due_share == 0:
                turn = r // due_share
                pool = reminders if turn % 2 == 0 else escalations
                profile = pool[(turn // 2) % len(pool)]
            else:
                profile = not_due[r % len(not_due)]
            rows.append({"task_id": task_id, **asdict(profile)})
        PROFILE_TABLE.create(conn)
        conn.execute(insert(PROFILE_TABLE), rows)
        p = "bench_deadline_profiles"
        conn.execute(text(f"UPDATE tasks SET entered_dt = {p}.entered_dt, due_dt = {p}.due_dt, "
                          f"next_check_dt = {p}.next_check_dt, reminders_done = {p}.reminders_done, "
                          f"overdue_dt = {p}.overdue_dt FROM {p} WHERE tasks.id = {p}.task_id"))
        conn.execute(text(f"UPDATE cases SET submitted_dt = {p}.entered_dt, updated_dt = {p}.entered_dt "
                          f"FROM {p} JOIN tasks t ON t.id = {p}.task_id WHERE cases.id = t.case_id"))
        PROFILE_TABLE.drop(conn)


def seed(engine: Engine, factory: sessionmaker[Session], open_rows: int, due: int) -> None:
    started = time.perf_counter()
    templates = make_templates(factory, build_org(factory))
    print(f"  org and {len(templates)} template cases through the engine: {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    share, extra = divmod(open_rows, len(templates))
    with engine.begin() as conn:
        for i, template in enumerate(templates):
            copy_template(conn, engine.dialect.name, template, share + (1 if i < extra else 0) - 1)
    date_rows(engine, factory, open_rows // due)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"))
    print(f"  bulk copies, dates and ANALYZE: {time.perf_counter() - started:.1f} s")


def check_seed(factory: sessionmaker[Session], open_rows: int, due: int) -> None:
    with factory() as session:
        found_open = session.scalar(select(func.count(Task.id)).where(Task.closed_dt.is_(None), Task.has_deadline))
        found_due = session.scalar(select(func.count(Task.id)).where(Task.next_check_dt <= NOW))
        agreeing = session.scalar(text("SELECT count(*) FROM tasks t JOIN cases c ON c.id = t.case_id "
                                       "WHERE t.closed_dt IS NULL AND c.state = t.state AND c.kind = t.case_kind"))
    expected_due = len(range(0, open_rows, open_rows // due))
    if (found_open, found_due, agreeing) != (open_rows, expected_due, open_rows):
        raise SystemExit(f"seeding went wrong: {found_open} open tasks with deadlines (wanted {open_rows}), {found_due} "
                         f"due (wanted {expected_due}), {agreeing} open tasks agreeing with their case")
    print(f"  {found_open:,} open tasks with deadlines, {found_due:,} due at {NOW.isoformat()}")


# --- Timing ---------------------------------------------------------------------------------------



class StatementTimer:
    """Statements the block runs, by kind (first words and table), with their time in the driver
    and the database (cursor execute to its return; compiling them is not in it)."""

    def __init__(self, engine: Engine):
        self.engine, self.by_kind = engine, {}

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        words = statement.split()
        table = next((w for w, prev in zip(words[1:], words) if prev.upper() in ("FROM", "INTO", "UPDATE")), "")
        kind = f"{words[0].upper()} {table}"
        count, seconds = self.by_kind.get(kind, (0, 0.0))
        self.by_kind[kind] = (count + 1, seconds + time.perf_counter() - conn.info["bench_started"])

    def __enter__(self) -> "StatementTimer":
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *_exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    def print(self, total: float) -> None:
        print("  statements during the scan: count, seconds in driver and database")
        for kind, (count, seconds) in sorted(self.by_kind.items(), key=lambda item: -item[1][1]):
            print(f"    {count:6,}  {seconds:6.2f} s  {kind}")
        database = sum(seconds for _count, seconds in self.by_kind.values())
        print(f"    in all {database:.2f} s of {total:.2f} s; the rest ({total - database:.2f} s) is Python")


@dataclass
class Result:
    database: str
    seconds: float
    acted: int
    reminders: int
    escalations: int
    notifications: int
    second_seconds: float
    rss_before_mib: float
    scan_peak_rss_mib: float
    peak_rss_mib: float


def time_scan(factory: sessionmaker[Session], database: str, due: int, profile: bool, statements: bool) -> Result:
    # The definition and the working calendar are cached from the setup, as in a running worker.
    rss_before = psutil.Process().memory_info().rss / 2**20
    profiler = cProfile.Profile() if profile else None
    timer = StatementTimer(factory.kw["bind"])
    with RssSampler(0.005) as sampler, (timer if statements else contextlib.nullcontext()):
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        report = scan_deadlines(factory, NOW)
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - started
    peak = peak_rss_mib()
    started = time.perf_counter()
    again = scan_deadlines(factory, NOW)
    second = time.perf_counter() - started
    with factory() as session:
        stored = session.scalar(select(func.count(Notification.id)))
        left = session.scalar(select(func.count(Task.id)).where(Task.next_check_dt <= NOW))
    acted = report.reminders + report.escalations + len(report.transitions)
    if acted != due or report.skipped or stored != report.notifications or left or again.notifications:
        raise SystemExit(f"the scan went wrong: {report}, {stored} notifications stored, {left} rows still due, "
                         f"second scan {again}")
    if statements:
        timer.print(seconds)
    if profiler:
        print(f"\ncProfile of the scan ({database}), cumulative, top 40:")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        print("The engine's own functions:")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(r"/engine/", 25)
    return Result(database, seconds, acted, report.reminders, report.escalations, report.notifications, second,
                  rss_before, sampler.peak_mib, peak)


def run(engine: Engine, settings: Settings, open_rows: int, due: int, profile: bool, statements: bool) -> Result:
    name = server_version(engine)
    print(f"\n{name}: {open_rows:,} open tasks with deadlines, {due:,} due")
    factory = migrate(engine, settings)
    seed(engine, factory, open_rows, due)
    check_seed(factory, open_rows, due)
    result = time_scan(factory, name, due, profile, statements)
    print(f"  scan: {result.seconds:.2f} s for {result.acted:,} rows ({result.reminders:,} reminders, "
          f"{result.escalations:,} escalations), {result.notifications:,} notifications stored; "
          f"second scan {result.second_seconds:.3f} s, nothing due")
    print(f"  RSS before the scan {result.rss_before_mib:.0f} MiB, peak during it {result.scan_peak_rss_mib:.0f} MiB; "
          f"peak RSS of the process (setup included) {result.peak_rss_mib:.0f} MiB")
    return result




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres-url", default=os.environ.get("UNIONFLOW_BENCH_DATABASE_URL", DEFAULT_POSTGRES_URL),
                        help=f"PostgreSQL server (the database {DATABASE} is created on it and dropped after); "
                             "default UNIONFLOW_BENCH_DATABASE_URL or " + DEFAULT_POSTGRES_URL)
    parser.add_argument("--open", type=int, default=DEFAULT_OPEN, help=f"open tasks with deadlines (default {DEFAULT_OPEN:,})")
    parser.add_argument("--due", type=int, default=DEFAULT_DUE, help=f"of which due (default {DEFAULT_DUE:,})")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10,000 open, 500 due")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--keep", action="store_true", help=f"keep the database {DATABASE} for inspection")
    parser.add_argument("--profile", action="store_true", help="cProfile of the timed scan")
    parser.add_argument("--statements", action="store_true", help="the scan's statements by kind, with their time")
    args = parser.parse_args()
    open_rows, due = (10_000, 500) if args.quick else (args.open, args.due)
    if not 0 < due <= open_rows or open_rows % due:
        raise SystemExit("--due must divide --open")

    load_models()
    settings = Settings.from_env()
    bootstrap(settings)
    print(f"machine: {machine()}")
    results = []
    if not args.no_postgres:
        engine, drop = fresh_postgres(args.postgres_url)
        try:
            results.append(run(engine, settings, open_rows, due, args.profile, args.statements))
        finally:
            engine.dispose()
            if not args.keep:
                drop()
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory(prefix="uf-scan-bench-") as tmp:
            engine = make_engine(f"sqlite:///{Path(tmp) / 'scan_bench.db'}")
            try:
                results.append(run(engine, settings, open_rows, due, args.profile, args.statements))
            finally:
                engine.dispose()

    print("\n| database | open / due | scan s | rows acted on | notifications | RSS before → peak in scan MiB |")
    print("|---|---|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r.database} | {open_rows:,} / {due:,} | {r.seconds:.2f} | {r.acted:,} ({r.reminders:,} reminders, "
              f"{r.escalations:,} escalations) | {r.notifications:,} | {r.rss_before_mib:.0f} → "
              f"{r.scan_peak_rss_mib:.0f} |")
    print(f"peak RSS of the whole run (ru_maxrss, setup included): {peak_rss_mib():.0f} MiB")
    for r in results:
        if r.database.startswith("PostgreSQL") and (open_rows, due) == (DEFAULT_OPEN, DEFAULT_DUE):
            print(f"target < {TARGET_SECONDS:.0f} s on PostgreSQL: {'met' if r.seconds < TARGET_SECONDS else 'NOT met'}")


if __name__ == "__main__":
    main()
