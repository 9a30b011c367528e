"""The reviewer inbox page's server time with 10,000 cases waiting at one unit.

Setup (not timed), on a fresh database: migrations and definitions; an org tree of a city,
2 counties, 20 townships and 200 grassroots unions with an applicant each and a reviewer at
the measured township; an honours round. Then the cases:

1. *Templates*, made by the engine's own operations (``create_draft`` + ``perform_action``):
   per grassroots union one nomination submitted to its township (it waits in the inbox)
   and, when the database is to hold more than the waiting cases, one withdrawn (closed).
2. *Copies* of each template, bulk-inserted with ``INSERT … SELECT`` over a number series
   (``generate_series`` on PostgreSQL, a recursive CTE on SQLite): every column of the
   template's ``cases`` row, with a numbered title (and ``form_data.nominee_name`` to match)
   and the dates shifted back by 0–8 whole weeks; and the template's tasks (the open one of a
   waiting case, the closed ones of its past stays) pointing at the copy, their dates shifted
   by the same weeks. So every row is one the engine wrote for a case from the same unit, in
   the same state, on the same definition version — what ``engine.cases.inbox`` reads
   (tasks ⋈ cases ⋈ org_units) is consistent with it.
   Not copied: the copies' audit events and case-ledger entries (the inbox never reads them;
   ``unionflow audit verify`` would report the copies, so this is a benchmark database only).

Sizes: ``--waiting`` cases wait at the measured township (default 10,000, spread over its
10 grassroots unions); ``--total`` cases in the database (default 1,000,000 on PostgreSQL,
the waiting ones only on SQLite): of the others a fifth wait at the other townships, the
rest are closed. Then the statistics are refreshed (``ANALYZE``, as autovacuum would after
a bulk load) and the reviewer signs in through the login form of a Flask test client; after
warm-up requests, ``--requests`` GETs of the inbox page's first page are timed (the test
client runs the whole request in-process: the time is the server's) and the median and
p95 printed. Each response is checked to list the soonest-due case first.

If the inbox page (web/views/inbox.py, endpoint ``inbox.inbox``) does not exist yet, the
JSON inbox GET /api/v1/inbox is timed instead, and the output says so.

    .venv/bin/python bench/inbox_page.py                                   # SQLite, 10,000
    .venv/bin/python bench/inbox_page.py --database-url postgresql://postgres@127.0.0.1:5432/uf_browser
    .venv/bin/python bench/inbox_page.py --quick                           # smoke run
    .venv/bin/python bench/inbox_page.py --database-url … --explain        # + query plans

``--database-url`` on PostgreSQL: **the database's schema ``public`` is dropped.**
"""
from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from measure import machine, server_version
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from engine.base.config import Settings, normalize_database_url
from engine.base.db import make_engine, make_session_factory, utcnow
from engine.cases.case import Case
from engine.cases.inbox import InboxFilter, inbox_page
from engine.cases.tasks import Task
from engine.definitions.store import sync_definitions
from engine.migrate import upgrade
from engine.operations.transitions import create_draft, perform_action
from engine.org.accounts import hash_password
from engine.org.units import assign_role, create_org_unit, create_user, load_actor
from engine.procedures.rounds import open_round
from engine.runtime import bootstrap, load_models

COUNTIES, TOWNSHIPS_PER_COUNTY, UNIONS_PER_TOWNSHIP = 2, 10, 10
DEFAULT_PG_TOTAL = 1_000_000
DEFAULT_WAITING = 10_000
DEFAULT_REQUESTS = 200
WARMUP = 10
OTHER_WAITING_SHARE = 0.2  # of the cases not waiting at the measured unit
REVIEWER, PASSWORD = "reviewer_bench", "bench-2026"
TARGET_P95_MS = 50  # issue 18 (was 100)
WEEKS = 9  # copies are dated 0..8 weeks before their template
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


# --- Database -------------------------------------------------------------------------------------

def fresh_database(url: str | None, directory: Path) -> Engine:
    if url is None:
        return make_engine(f"sqlite:///{directory / 'inbox_bench.db'}")
    engine = make_engine(normalize_database_url(url))
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    return engine




# --- Setup through the engine ---------------------------------------------------------------------

@dataclass
class Org:
    target_township_id: int
    unions: list[tuple[int, int, str]]  # (union id, township id, applicant username)


def build_org(factory: sessionmaker[Session]) -> Org:
    with factory() as session:
        city = create_org_unit(session, name="示范市总工会", level="city", kind="federation")
        unions, target = [], None
        for c in range(COUNTIES):
            county = create_org_unit(session, name=f"第{c + 1}区总工会", level="county", parent=city, kind="federation")
            for t in range(TOWNSHIPS_PER_COUNTY):
                township = create_org_unit(session, name=f"第{c + 1}-{t + 1}街道总工会", level="township",
                                           parent=county, kind="federation")
                target = target or township
                for u in range(UNIONS_PER_TOWNSHIP):
                    union = create_org_unit(session, name=f"第{c + 1}-{t + 1}-{u + 1}公司工会", level="grassroots",
                                            parent=township)
                    applicant = f"applicant_{c + 1}_{t + 1}_{u + 1}"
                    assign_role(session, create_user(session, username=applicant, display_name=applicant),
                                "applicant", union)
                    unions.append((union.id, township.id, applicant))
        reviewer = create_user(session, username=REVIEWER, display_name="计时审核人",
                               password_hash=hash_password(PASSWORD))
        assign_role(session, reviewer, "reviewer", target)
        now = utcnow()
        open_round(session, None, kind="honours", unit=city, title="基准测试评选", year=now.year,
                   opens_dt=now - timedelta(days=365), closes_dt=now + timedelta(days=365),
                   categories=["labour_medal"], settings={"person_awards": [], "veto_items": []})
        session.commit()
        return Org(target.id, unions)


def make_template(factory: sessionmaker[Session], applicant: str, index: int, *, waiting: bool) -> int:
    """One nomination through the engine: submitted (waits for its township) or withdrawn."""
    with factory() as session:
        user_id = session.scalar(text("SELECT id FROM users WHERE username = :u"), {"u": applicant})
        actor = load_actor(session, user_id)
        round_id = session.scalar(text("SELECT id FROM rounds"))
        form = {"award_type": "labour_medal", "nominee_name": f"被推荐人{index}", "employer": "基准公司",
                "ownership": "public", "merits_summary": "扎根一线多年，业绩突出。"}
        case = create_draft(session, actor, "honours", form=form, round_id=round_id)
        perform_action(session, actor, case, "submit" if waiting else "withdraw", expected_version=case.version)
        session.commit()
        return case.id


# --- Bulk copies ----------------------------------------------------------------------------------

CASE_COLUMNS = [column.name for column in Case.__table__.columns if column.name != "id"]
SHIFTED_CASE_DATES = ("created_dt", "updated_dt", "submitted_dt", "closed_dt")


def _copy_cases_sql(dialect: str) -> str:
    """INSERT … SELECT of :copies copies of case :template (numbered titles, dates shifted by weeks)."""
    title = "t.title || '·' || g.n"
    expressions = []
    for name in CASE_COLUMNS:
        if name == "title":
            expressions.append(title)
        elif name == "form_data":
            expressions.append(f"jsonb_set(t.form_data, '{{nominee_name}}', to_jsonb({title}))" if dialect == "postgresql"
                               else f"json_set(t.form_data, '$.nominee_name', {title})")
        elif name in SHIFTED_CASE_DATES:
            expressions.append(f"t.{name} - make_interval(weeks => (g.n % {WEEKS})::int)" if dialect == "postgresql"
                               # SQLite keeps naive 'YYYY-MM-DD HH:MM:SS.ffffff': shift the date part, keep the fraction
                               else f"datetime(t.{name}, '-' || ((g.n % {WEEKS}) * 7) || ' days') || substr(t.{name}, 20)")
        else:
            expressions.append(f"t.{name}")
    select_part = f"SELECT {', '.join(expressions)} FROM cases t CROSS JOIN SERIES WHERE t.id = :template"
    insert = f"INSERT INTO cases ({', '.join(CASE_COLUMNS)}) "
    if dialect == "postgresql":
        return insert + select_part.replace("SERIES", "generate_series(1, :copies) AS g(n)")
    return ("WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :copies) "
            + insert + select_part.replace("SERIES", "g"))


def _copy_tasks_sql(dialect: str) -> str:
    """The template's tasks (its open one if it waits, and the closed ones of its past stays) for
    each copy in (:first, :last], dates shifted as the case's."""
    if dialect == "postgresql":
        shift = "{col} + (c.submitted_dt - t.submitted_dt)"
    else:
        shift = ("datetime({col}, CAST(round(julianday(c.submitted_dt) - julianday(t.submitted_dt)) AS INTEGER)"
                 " || ' days') || substr({col}, 20)")
    columns = ", ".join(f"{shift.format(col='k.' + name)}" for name in ("entered_dt", "due_dt", "next_check_dt",
                                                                         "closed_dt"))
    return (
        "INSERT INTO tasks (case_id, purpose, case_kind, state, role, unit_id, has_deadline, reminders_done, "
        "closed_by_id, closed_how, entered_dt, due_dt, next_check_dt, closed_dt) "
        f"SELECT c.id, k.purpose, k.case_kind, k.state, k.role, k.unit_id, k.has_deadline, k.reminders_done, "
        f"k.closed_by_id, k.closed_how, {columns} "
        "FROM cases c JOIN cases t ON t.id = :template JOIN tasks k ON k.case_id = t.id "
        "WHERE c.id > :first AND c.id <= :last"
    )


def copy_template(engine: Engine, template_id: int, copies: int) -> None:
    if copies <= 0:
        return
    dialect = engine.dialect.name
    with engine.begin() as conn:
        first = conn.scalar(text("SELECT max(id) FROM cases"))
        conn.execute(text(_copy_cases_sql(dialect)), {"template": template_id, "copies": copies})
        last = conn.scalar(text("SELECT max(id) FROM cases"))
        assert last - first == copies, "copies must get consecutive ids (nobody else writes during setup)"
        conn.execute(text(_copy_tasks_sql(dialect)), {"template": template_id, "first": first, "last": last})


def spread(count: int, templates: list[int]) -> list[tuple[int, int]]:
    """(template, copies) so that templates and copies together make ``count`` cases."""
    share, extra = divmod(count, len(templates))
    return [(template, share + (1 if i < extra else 0) - 1) for i, template in enumerate(templates)]


def seed_cases(engine: Engine, factory: sessionmaker[Session], org: Org, waiting: int, total: int) -> None:
    target_unions = [u for u in org.unions if u[1] == org.target_township_id]
    other_unions = [u for u in org.unions if u[1] != org.target_township_id]
    if waiting < len(target_unions) or (total > waiting and total - waiting < 2 * len(org.unions)):
        raise SystemExit("sizes too small for the org tree: use --waiting ≥ 10 and --total ≥ waiting + 400")
    started = time.perf_counter()
    plan = spread(waiting, [make_template(factory, a, i, waiting=True) for i, (_u, _t, a) in enumerate(target_unions)])
    if total > waiting:
        others = total - waiting
        other_waiting = int(others * OTHER_WAITING_SHARE)
        plan += spread(other_waiting, [
            make_template(factory, a, 1000 + i, waiting=True) for i, (_u, _t, a) in enumerate(other_unions)])
        plan += spread(others - other_waiting, [
            make_template(factory, a, 2000 + i, waiting=False) for i, (_u, _t, a) in enumerate(org.unions)])
    print(f"  {len(plan)} template cases through the engine: {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    for template, copies in plan:
        copy_template(engine, template, copies)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"))
    print(f"  bulk copies and ANALYZE: {time.perf_counter() - started:.1f} s")


def check_counts(factory: sessionmaker[Session], org: Org, waiting: int, total: int) -> None:
    with factory() as session:
        cases = session.scalar(select(func.count(Case.id)))
        at_target = session.scalar(select(func.count(Task.id)).where(
            Task.role == "reviewer", Task.unit_id == org.target_township_id, Task.closed_dt.is_(None)))
        orphans = session.scalar(select(func.count(Task.id)).join(Case, Case.id == Task.case_id).where(
            Task.closed_dt.is_(None), Case.state != Task.state))
    if (cases, at_target, orphans) != (total, waiting, 0):
        raise SystemExit(f"seeding went wrong: {cases} cases (wanted {total}), {at_target} waiting at the unit "
                         f"(wanted {waiting}), {orphans} open tasks disagreeing with their case")
    print(f"  {cases:,} cases, {at_target:,} waiting at the measured township")


# --- Timing ---------------------------------------------------------------------------------------

def signed_in_client(app):
    client = app.test_client()
    token = CSRF_INPUT.search(client.get("/login").get_data(as_text=True)).group(1)
    response = client.post("/login", data={"csrf_token": token, "username": REVIEWER, "password": PASSWORD})
    if response.status_code != 302:
        raise SystemExit(f"the reviewer could not sign in: {response.status_code}")
    return client


def expected_first_title(factory: sessionmaker[Session]) -> str:
    with factory() as session:
        user_id = session.scalar(text("SELECT id FROM users WHERE username = :u"), {"u": REVIEWER})
        return inbox_page(session, load_actor(session, user_id), InboxFilter(), limit=1)[0].title


def time_requests(client, url: str, count: int, must_contain: str) -> list[float]:
    timings = []
    for i in range(WARMUP + count):
        started = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - started
        body = response.get_data(as_text=True)
        if response.status_code != 200 or must_contain not in body:
            raise SystemExit(f"GET {url} answered {response.status_code} without the soonest-due case "
                             f"«{must_contain}»:\n{body[:500]}")
        if i >= WARMUP:
            timings.append(elapsed * 1000)
    return timings


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def explain_one_request(app, client, url: str) -> None:
    """The SQL one request runs, each with its time and the database's plan."""
    engine = app.extensions["unionflow"].engine
    statements = []

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info["started"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters, (time.perf_counter() - conn.info["started"]) * 1000))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        client.get(url)
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    print(f"\n{len(statements)} statements in one request:")
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        for statement, parameters, ms in statements:
            print(f"\n--- {ms:.2f} ms: {' '.join(statement.split())[:300]}")
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            prefix = "EXPLAIN (ANALYZE, BUFFERS) " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
            cursor = raw.cursor()
            cursor.execute(prefix + statement, parameters)
            for row in cursor.fetchall():
                print("    " + " | ".join(str(col) for col in row))
            cursor.close()


def profile_requests(client, url: str, count: int) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        client.get(url)
    profiler.disable()
    print(f"\ncProfile of {count} requests (cumulative, top 30):")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL database to use (its schema public is DROPPED); "
                                               "default: a new SQLite file in a temporary directory")
    parser.add_argument("--waiting", type=int, help=f"cases waiting at the measured unit (default {DEFAULT_WAITING:,})")
    parser.add_argument("--total", type=int, help=f"cases in the database (default {DEFAULT_PG_TOTAL:,} on "
                                                  "PostgreSQL, the waiting ones on SQLite)")
    parser.add_argument("--requests", type=int, help=f"timed requests (default {DEFAULT_REQUESTS})")
    parser.add_argument("--quick", action="store_true", help="smoke run: 500 waiting of 2,000, 20 requests")
    parser.add_argument("--explain", action="store_true", help="after timing: each statement of one request "
                                                               "with its time and plan")
    parser.add_argument("--profile", action="store_true", help="after timing: cProfile of 20 requests")
    args = parser.parse_args()

    load_models()
    settings = Settings.from_env()
    bootstrap(settings)
    with tempfile.TemporaryDirectory(prefix="uf-inbox-bench-") as tmp:
        directory = Path(tmp)
        engine = fresh_database(args.database_url, directory)
        postgres = engine.dialect.name == "postgresql"
        waiting = args.waiting or (500 if args.quick else DEFAULT_WAITING)
        total = args.total or ((2_000 if args.quick else DEFAULT_PG_TOTAL) if postgres else waiting)
        requests = args.requests or (20 if args.quick else DEFAULT_REQUESTS)
        print(f"{server_version(engine)}: {waiting:,} cases waiting at one township, {total:,} in all")
        print(f"machine: {machine()}")
        with engine.begin() as conn:
            upgrade(conn)
        factory = make_session_factory(engine)
        with factory() as session:
            sync_definitions(session, settings.workflows_dir)
            session.commit()
        org = build_org(factory)
        seed_cases(engine, factory, org, waiting, total)
        check_counts(factory, org, waiting, total)
        engine.dispose()

        from unionflow.app import create_app

        app_settings = Settings(database_url=engine.url.render_as_string(hide_password=False),
                                workflows_dir=settings.workflows_dir, timezone=ZoneInfo("Asia/Shanghai"),
                                attachments_dir=directory / "attachments")
        app = create_app(app_settings, SECRET_KEY="bench-secret")
        has_page = "inbox.inbox" in app.view_functions
        url = "/inbox" if has_page else "/api/v1/inbox"
        client = signed_in_client(app)
        first = expected_first_title(factory)
        timings = time_requests(client, url, requests, first)
        what = "the inbox page GET /inbox" if has_page else \
            "GET /api/v1/inbox (the inbox page web/views/inbox.py does not exist yet)"
        median, p95 = statistics.median(timings), percentile(timings, 0.95)
        print(f"\n{what}, first page, {requests} requests after {WARMUP} warm-up:")
        print(f"  median {median:.1f} ms   p95 {p95:.1f} ms   (min {min(timings):.1f}, max {max(timings):.1f})")
        if postgres:
            print(f"  target p95 < {TARGET_P95_MS} ms on PostgreSQL: {'met' if p95 < TARGET_P95_MS else 'NOT met'}")
        if args.explain:
            explain_one_request(app, client, url)
        if args.profile:
            profile_requests(client, url, 20)
        app.extensions["unionflow"].engine.dispose()


if __name__ == "__main__":
    main()
