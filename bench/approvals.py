"""Approval throughput: the engine against the raw limit of its own stack, on SQLite and PostgreSQL.

For each database the script builds a fresh schema (migrations, definitions, a one-branch
org tree), creates and submits N nominations of the plain review chain
(tests/definitions/basic_nomination.yaml: the engine's own cost, without the domain rules
of honours' rounds and quotas) (setup, not timed), then times:

- engine: for each case, three approvals (township → county → city), each in its own
  transaction: new session, ``session.get(Case, id)``, ``approve_case``, commit;
- limit: the same number of transitions done with SQLAlchemy Core on a connection, on
  tables shaped like ``cases`` and ``audit_events``: one UPDATE + one INSERT + COMMIT;
- peer: the same chain in SpiffWorkflow, stateless (bench/spiff_peer.py): read the workflow's
  JSON, deserialize it, complete the ready user task, serialize it, UPDATE + INSERT + COMMIT
  (skipped with --no-peer, or when SpiffWorkflow is not installed).

On PostgreSQL it also runs the same approvals on disjoint cases from 1 thread and from
4 threads (each thread its own session and connection): a global lock on appending
would show no speed-up. See bench/README.md for the figures and how to read them.

    .venv/bin/python bench/approvals.py [--cases 1000] [--postgres-url URL] [--profile] [--no-peer]
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

import spiff_peer
from measure import peak_rss_mib, server_version
from sqlalchemy import (
    Column, ForeignKey, Integer, MetaData, String, Table, Text, UniqueConstraint, event, func, insert, make_url, select,
    text, update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from engine.base.config import Settings, normalize_database_url
from engine.base.db import JSONDocument, UTCDateTime, make_engine, make_session_factory, utcnow
from engine.cases.case import Case
from engine.cases.integrity import verify_audit_chain
from engine.definitions.store import sync_definitions
from engine.migrate import upgrade
from engine.operations.transitions import approve_case, create_draft, submit_case
from engine.org.units import Actor, assign_role, create_org_unit, create_user, load_actor
from engine.runtime import bootstrap, load_models

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/uf_bench"
REVIEWERS = ("reviewer_A1", "reviewer_A", "reviewer_city")
APPROVALS_PER_CASE = len(REVIEWERS)
# The plain chain the bench drives, and the states its three approvals walk through.
KIND = "basic_nomination"
CHAIN_DEFINITIONS = Path(__file__).resolve().parent.parent / "tests" / "definitions"
RAW_STATES = ("township_review", "county_review", "city_review", "public_notice")
WARMUP_CASES = 10  # first-use costs (statement caches, machine compilation) are not timed
ROUNDS = 10  # blocks the timed loops alternate in
SCALING_ROUNDS = 5
TARGET_RATIO = 0.5
FORM = {
    "award_type": "labour_medal", "nominee_name": "张三", "employer": "A1a公司", "ownership": "public",
    "merits_summary": "扎根一线十年，带出徒弟三十余名，牵头完成三项技术革新。",
}


# --- Results --------------------------------------------------------------------------------------

@dataclass
class Run:
    """One timed loop: how many approvals in how many seconds, and each transaction's latency."""

    approvals: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    # Engine runs only: seconds spent loading the case, in approve_case, and in commit.
    split: dict[str, float] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.approvals / self.seconds

    def percentile_ms(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@dataclass
class DatabaseResult:
    name: str
    version: str
    engine: Run
    limit: Run
    peak_rss_mib: float
    peer: Run | None = None
    scaling: dict[str, dict[int, Run]] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.engine.per_second / self.limit.per_second

    @property
    def peer_ratio(self) -> float:
        return self.engine.per_second / self.peer.per_second




# --- Databases ------------------------------------------------------------------------------------

def fresh_sqlite(directory: Path) -> Engine:
    """A new file through make_engine, so the production pragmas apply (WAL, synchronous=FULL)."""
    return make_engine(f"sqlite:///{directory / 'bench.db'}")


def fresh_postgres(url: str) -> Engine:
    """The database at ``url`` (created if missing) with an empty ``public`` schema."""
    url = normalize_database_url(url)
    name = make_url(url).database
    admin_url = make_url(url).set(database="postgres").render_as_string(hide_password=False)
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}) is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = make_engine(url, pool_size=8)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    return engine




def migrate(engine: Engine, settings: Settings) -> sessionmaker[Session]:
    with engine.begin() as conn:
        upgrade(conn)
    RAW_METADATA.create_all(engine)
    factory = make_session_factory(engine)
    with factory() as session:
        sync_definitions(session, settings.workflows_dir)
        sync_definitions(session, CHAIN_DEFINITIONS)
        session.commit()
    return factory


# --- Setup (not timed) ----------------------------------------------------------------------------

def build_org(factory: sessionmaker[Session]) -> dict[str, Actor]:
    """City → county A → township A1 → grassroots A1a, one applicant and one reviewer per level.

    Actors are loaded once, as a web worker would cache them (see README).
    """
    with factory() as session:
        city = create_org_unit(session, name="示范市总工会", level="city", kind="federation")
        county = create_org_unit(session, name="A区总工会", level="county", parent=city, kind="federation")
        township = create_org_unit(session, name="A1街道总工会", level="township", parent=county, kind="federation")
        grassroots = create_org_unit(session, name="A1a公司工会", level="grassroots", parent=township)
        users = {}
        for username, role, unit in (
            ("applicant_A1a", "applicant", grassroots), ("reviewer_A1", "reviewer", township),
            ("reviewer_A", "reviewer", county), ("reviewer_city", "reviewer", city),
        ):
            users[username] = create_user(session, username=username, display_name=username)
            assign_role(session, users[username], role, unit)
        session.commit()
        return {name: load_actor(session, user.id) for name, user in users.items()}


def submitted_cases(factory: sessionmaker[Session], applicant: Actor, count: int, batch: int = 200) -> list[int]:
    """``count`` nominations, filled in and submitted: each waits for the township."""
    ids = []
    while len(ids) < count:
        with factory() as session:
            for _ in range(min(batch, count - len(ids))):
                case = create_draft(session, applicant, KIND, form=FORM)
                submit_case(session, applicant, case, expected_version=case.version)
                ids.append(case.id)
            session.commit()
    return ids


# --- The engine, timed ----------------------------------------------------------------------------

def engine_approvals(factory: sessionmaker[Session], actors: dict[str, Actor], case_ids: list[int]) -> Run:
    """Each approval as a web request would do it: its own session, load, operate, commit."""
    reviewers = [actors[name] for name in REVIEWERS]
    latencies, split = [], {"load": 0.0, "approve_case": 0.0, "commit": 0.0}
    clock = time.perf_counter
    started = clock()
    for case_id in case_ids:
        for reviewer in reviewers:
            t0 = clock()
            with factory() as session:
                case = session.get(Case, case_id)
                t1 = clock()
                approve_case(session, reviewer, case, expected_version=case.version)
                t2 = clock()
                session.commit()
                t3 = clock()
            split["load"] += t1 - t0
            split["approve_case"] += t2 - t1
            split["commit"] += t3 - t2
            latencies.append(clock() - t0)
    return Run(len(latencies), clock() - started, latencies, split)


# --- The raw limit of the stack -------------------------------------------------------------------

RAW_METADATA = MetaData()
# The columns a transition writes in ``cases`` and ``audit_events``, with the same types.
raw_cases = Table(
    "bench_raw_cases", RAW_METADATA,
    Column("id", Integer, primary_key=True),
    Column("state", String(63), nullable=False),
    Column("version", Integer, nullable=False),
    Column("audit_seq", Integer, nullable=False),
    Column("audit_head", String(64)),
    Column("updated_dt", UTCDateTime, nullable=False),
)
raw_events = Table(
    "bench_raw_events", RAW_METADATA,
    Column("id", Integer, primary_key=True),
    Column("case_id", ForeignKey("bench_raw_cases.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("action", String(63), nullable=False),
    Column("from_state", String(63)),
    Column("to_state", String(63)),
    Column("actor_id", Integer),
    Column("actor_name", String(64), nullable=False),
    Column("actor_role", String(20)),
    Column("actor_unit_id", Integer),
    Column("actor_unit_name", String(100)),
    Column("comment", Text),
    Column("details", JSONDocument),
    Column("occurred_dt", UTCDateTime, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("case_id", "seq"),
)
RAW_HASH = "f" * 64


def raw_rows(engine: Engine, count: int) -> list[int]:
    """``count`` rows waiting at the township, as a submitted case would (setup, not timed)."""
    now = utcnow()
    with engine.begin() as conn:
        first = (conn.scalar(select(raw_cases.c.id).order_by(raw_cases.c.id.desc()).limit(1)) or 0) + 1
        ids = list(range(first, first + count))
        conn.execute(insert(raw_cases), [
            {"id": i, "state": RAW_STATES[0], "version": 1, "audit_seq": 2, "audit_head": RAW_HASH, "updated_dt": now}
            for i in ids
        ])
    return ids


def raw_approvals(engine: Engine, actors: dict[str, Actor], case_ids: list[int]) -> Run:
    """One UPDATE + one INSERT + COMMIT per transition, nothing else: what the stack allows.

    Statements are built per call, as ordinary Core code (and the engine) builds them.
    """
    reviewers = [actors[name] for name in REVIEWERS]

    def approve(case_id: int, step: int) -> None:
        reviewer, now = reviewers[step], utcnow()
        grant = reviewer.grants[0]
        with engine.begin() as conn:
            conn.execute(
                update(raw_cases)
                .where(raw_cases.c.id == case_id, raw_cases.c.version == step + 1)
                .values(state=RAW_STATES[step + 1], version=step + 2, audit_seq=step + 3,
                        audit_head=RAW_HASH, updated_dt=now)
            )
            conn.execute(insert(raw_events).values(
                case_id=case_id, seq=step + 3, action="approve", from_state=RAW_STATES[step],
                to_state=RAW_STATES[step + 1], actor_id=reviewer.user_id, actor_name=reviewer.name,
                actor_role=grant.role, actor_unit_id=grant.unit_id, actor_unit_name=grant.unit_name,
                details={"label": "审核通过", "revision_round": 0}, occurred_dt=now,
                prev_hash=RAW_HASH, hash=RAW_HASH,
            ))

    return timed_approvals(case_ids, approve)


def timed_approvals(ids: list[int], approve: Callable[[int, int], None]) -> Run:
    """``approve(id, step)`` for each id and each of its three steps, each timed on its own."""
    latencies = []
    clock = time.perf_counter
    started = clock()
    for item_id in ids:
        for step in range(APPROVALS_PER_CASE):
            t0 = clock()
            approve(item_id, step)
            latencies.append(clock() - t0)
    return Run(len(latencies), clock() - started, latencies)


# --- The peer: SpiffWorkflow, stateless ------------------------------------------------------------

def peer_approvals(peer: spiff_peer.SpiffPeer, workflow_ids: list[int]) -> Run:
    """For each workflow the three approvals, each its own transaction, as the engine's are."""
    return timed_approvals(workflow_ids, lambda workflow_id, step: peer.approve(workflow_id, step, REVIEWERS[step]))


# --- Scaling over threads (PostgreSQL) ------------------------------------------------------------

def threaded(run: Callable[[list[int]], Run], case_ids: list[int], threads: int) -> Run:
    """Split disjoint cases over ``threads`` threads started together; wall time of the whole."""
    slices = [case_ids[i::threads] for i in range(threads)]
    results: list[Run | BaseException | None] = [None] * threads
    barrier = threading.Barrier(threads + 1)

    def work(index: int) -> None:
        barrier.wait()
        try:
            results[index] = run(slices[index])
        except BaseException as err:  # noqa: BLE001 - re-raised in the main thread below
            results[index] = err

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - started
    for result in results:
        if isinstance(result, BaseException):
            raise result
    latencies = [latency for result in results for latency in result.latencies]
    return Run(len(latencies), seconds, latencies)


# --- Checks ---------------------------------------------------------------------------------------

def check_engine_results(factory: sessionmaker[Session], case_ids: list[int]) -> None:
    """Refuse to report figures for work that did not happen: every case at the notice, chains intact."""
    with factory() as session:
        states = session.execute(select(Case.state, Case.version).where(Case.id.in_(case_ids))).all()
        wrong = [s for s in states if s.state != "public_notice"]
        if len(states) != len(case_ids) or wrong:
            raise SystemExit(f"benchmark invalid: {len(wrong)} of {len(case_ids)} cases not at public_notice")
        report = verify_audit_chain(session, case_ids)
        if not report.ok:
            raise SystemExit(f"benchmark invalid: audit chain problems: {report.problems[:3]}")


def check_raw_results(engine: Engine, case_ids: list[int]) -> None:
    """The raw loop's guarded UPDATEs must all have matched their row."""
    with engine.connect() as conn:
        done = conn.scalar(select(func.count()).select_from(raw_cases).where(
            raw_cases.c.id.in_(case_ids), raw_cases.c.state == RAW_STATES[-1]))
    if done != len(case_ids):
        raise SystemExit(f"benchmark invalid: {len(case_ids) - done} raw rows did not reach the last state")


def check_peer_results(peer: spiff_peer.SpiffPeer, workflow_ids: list[int]) -> None:
    """Every peer workflow completed, with one audit row per approval."""
    problem = peer.check(workflow_ids)
    if problem:
        raise SystemExit(f"benchmark invalid: {problem}")


# --- One database ---------------------------------------------------------------------------------

def bench_database(engine: Engine, settings: Settings, cases: int, threads: int, profile: bool,
                   with_peer: bool) -> DatabaseResult:
    name = engine.dialect.name
    version = server_version(engine)
    print(f"\n[{name}] {version}: migrating and creating {cases} submitted nominations ...", flush=True)
    factory = migrate(engine, settings)
    actors = build_org(factory)
    applicant = actors["applicant_A1a"]
    peer = spiff_peer.SpiffPeer(engine) if with_peer else None

    warm = submitted_cases(factory, applicant, WARMUP_CASES)
    engine_approvals(factory, actors, warm)
    raw_approvals(engine, actors, raw_rows(engine, WARMUP_CASES))
    if peer:
        peer_approvals(peer, peer.new_workflows(WARMUP_CASES))

    case_ids = submitted_cases(factory, applicant, cases)
    raw_ids = raw_rows(engine, cases)
    loops = [(lambda part: engine_approvals(factory, actors, part), case_ids),
             (lambda part: raw_approvals(engine, actors, part), raw_ids)]
    if peer:
        peer_ids = peer.new_workflows(cases)
        loops.append((lambda part: peer_approvals(peer, part), peer_ids))
    print(f"[{name}] timing {cases * APPROVALS_PER_CASE} approvals: engine, raw limit{', peer' if peer else ''}, "
          "interleaved ...", flush=True)
    engine_run, limit_run, *peer_run = interleaved(*loops)
    check_engine_results(factory, case_ids)
    check_raw_results(engine, raw_ids)
    if peer:
        check_peer_results(peer, peer_ids)
    result = DatabaseResult(name, version, engine_run, limit_run, peak_rss_mib(), peer=peer_run[0] if peer else None)

    if name == "postgresql" and threads > 1:
        result.scaling = measure_scaling(engine, factory, actors, cases, threads)
    if profile:
        profile_engine(engine, factory, actors, min(cases, 300))
    return result


def interleaved(*loops: tuple[Callable[[list[int]], Run], list[int]], rounds: int = ROUNDS) -> list[Run]:
    """Alternate blocks of the loops (each a loop and its ids), so that load from elsewhere on the
    machine (other processes, checkpoints) falls on all alike and the ratios stay fair."""
    runs: list[list[Run]] = [[] for _ in loops]
    for index in range(rounds):
        for (loop, ids), blocks in zip(loops, runs):
            blocks.append(loop(ids[index::rounds]))
    return [combined(blocks) for blocks in runs]


def combined(runs: list[Run]) -> Run:
    split: dict[str, float] = {}
    for run in runs:
        for key, seconds in run.split.items():
            split[key] = split.get(key, 0.0) + seconds
    return Run(sum(r.approvals for r in runs), sum(r.seconds for r in runs),
               [latency for r in runs for latency in r.latencies], split)


def measure_scaling(engine: Engine, factory, actors, cases: int, threads: int) -> dict[str, dict[int, Run]]:
    """The same approvals on fresh disjoint cases from 1 thread and from ``threads`` threads, interleaved."""
    print(f"[postgresql] timing 1 thread vs {threads} threads on disjoint cases ...", flush=True)
    scaling: dict[str, dict[int, Run]] = {}
    loops = {
        "engine": (lambda part: engine_approvals(factory, actors, part),
                   lambda count: submitted_cases(factory, actors["applicant_A1a"], count),
                   lambda ids: check_engine_results(factory, ids)),
        "limit": (lambda part: raw_approvals(engine, actors, part), lambda count: raw_rows(engine, count),
                  lambda ids: check_raw_results(engine, ids)),
    }
    for kind, (loop, make, check) in loops.items():
        alone_ids, parallel_ids = make(cases), make(cases)
        alone, parallel = interleaved(
            (lambda part: threaded(loop, part, 1), alone_ids),
            (lambda part: threaded(loop, part, threads), parallel_ids), rounds=SCALING_ROUNDS,
        )
        check(alone_ids + parallel_ids)
        scaling[kind] = {1: alone, threads: parallel}
    return scaling


# --- Profiling (--profile) ------------------------------------------------------------------------

def profile_engine(engine: Engine, factory, actors, cases: int) -> None:
    """Where one approval's time goes: statements sent, then cProfile's top functions."""
    ids = submitted_cases(factory, actors["applicant_A1a"], cases)
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(" ".join(statement.split()[:3]))

    def record_commit(conn):
        statements.append("COMMIT")

    event.listen(engine, "before_cursor_execute", record)
    event.listen(engine, "commit", record_commit)
    engine_approvals(factory, actors, ids[:1])
    event.remove(engine, "before_cursor_execute", record)
    event.remove(engine, "commit", record_commit)
    first = statements[: statements.index("COMMIT") + 1]
    print(f"\n[{engine.dialect.name}] SQL for one approval (pool pre-ping not shown): {' | '.join(first)}")

    profiler = cProfile.Profile()
    profiler.enable()
    engine_approvals(factory, actors, ids[1:])
    profiler.disable()
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(25)
        print(f"\n[{engine.dialect.name}] cProfile, {(len(ids) - 1) * APPROVALS_PER_CASE} approvals, by {order}:")
        print(out.getvalue().split("\n\n", 1)[-1].rstrip())


# --- Report ---------------------------------------------------------------------------------------

def print_report(results: list[DatabaseResult], cases: int, load_before: float, peer_skipped: str | None) -> None:
    # Other work on the machine slows all loops alike (they are interleaved), but say so.
    print(f"\n{cases} cases × {APPROVALS_PER_CASE} approvals, one transaction each "
          f"({datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, {os.cpu_count()} CPUs, "
          f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after)\n")
    header = f"{'database':<18}{'engine ap/s':>12}{'limit ap/s':>12}{'ratio':>8}  {'engine p50/p99 ms':>18}  {'limit p50/p99 ms':>17}"
    print(header)
    print("-" * len(header))
    for r in results:
        verdict = "ok" if r.ratio >= TARGET_RATIO else f"< {TARGET_RATIO}"
        print(f"{r.version:<18}{r.engine.per_second:>12.0f}{r.limit.per_second:>12.0f}{r.ratio:>8.3f}  "
              f"{r.engine.percentile_ms(.5):>8.2f} /{r.engine.percentile_ms(.99):>7.2f}  "
              f"{r.limit.percentile_ms(.5):>8.2f} /{r.limit.percentile_ms(.99):>7.2f}  {verdict}")
    print("\nengine time per approval (ms): load case / approve_case / commit")
    for r in results:
        per = {k: 1000 * v / r.engine.approvals for k, v in r.engine.split.items()}
        print(f"  {r.version:<18}{per['load']:6.2f} / {per['approve_case']:6.2f} / {per['commit']:6.2f}")
    print_peer(results, peer_skipped)
    for r in results:
        if not r.scaling:
            continue
        threads = max(r.scaling["engine"])
        print(f"\n{r.version}: disjoint cases, 1 thread vs {threads} threads (own session and connection each)")
        print(f"  {'':8}{'1 thread ap/s':>15}{f'{threads} threads ap/s':>17}{'speed-up':>10}")
        for kind in ("engine", "limit"):
            one, many = r.scaling[kind][1], r.scaling[kind][threads]
            print(f"  {kind:<8}{one.per_second:>15.0f}{many.per_second:>17.0f}{many.per_second / one.per_second:>9.2f}×")
    print(f"\npeak RSS (ru_maxrss): {peak_rss_mib():.0f} MiB for the whole run; after each database: "
          + ", ".join(f"{r.name} {r.peak_rss_mib:.0f} MiB" for r in results))


def print_peer(results: list[DatabaseResult], peer_skipped: str | None) -> None:
    if peer_skipped:
        print(f"\npeer skipped: {peer_skipped}")
        return
    print(f"\npeer: {spiff_peer.spiff_version()}, stateless (read the workflow JSON, deserialize, "
          "complete the task, serialize, UPDATE + INSERT + COMMIT)")
    header = (f"{'database':<18}{'engine ap/s':>12}{'limit ap/s':>12}{'peer ap/s':>11}"
              f"{'engine/limit':>14}{'engine/peer':>13}  {'peer p50/p99 ms':>16}")
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r.version:<18}{r.engine.per_second:>12.0f}{r.limit.per_second:>12.0f}{r.peer.per_second:>11.0f}"
              f"{r.ratio:>14.3f}{r.peer_ratio:>13.3f}  "
              f"{r.peer.percentile_ms(.5):>7.2f} /{r.peer.percentile_ms(.99):>7.2f}")


def peer_skip_reason(no_peer: bool) -> str | None:
    """Why the peer does not run, or None when it does."""
    if no_peer:
        return "--no-peer"
    if spiff_peer.UNAVAILABLE:
        return f"{spiff_peer.UNAVAILABLE}; install it with .venv/bin/pip install -e '.[bench]'"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000, help="cases per measurement (3 approvals each)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL,
                        help="database to use (created if missing; its schema public is dropped)")
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated subset to run")
    parser.add_argument("--threads", type=int, default=4, help="threads for the PostgreSQL scaling run (1 skips it)")
    parser.add_argument("--profile", action="store_true", help="also profile the engine's approvals (after timing)")
    parser.add_argument("--no-peer", action="store_true", help="skip the SpiffWorkflow peer")
    args = parser.parse_args(argv)
    if args.cases < 1 or args.threads < 1:
        parser.error("--cases and --threads must be at least 1")

    settings = Settings.from_env()
    bootstrap(settings)
    load_models()
    peer_skipped = peer_skip_reason(args.no_peer)
    if peer_skipped:
        print(f"peer skipped: {peer_skipped}", flush=True)
    load_before = os.getloadavg()[0]
    wanted = [name.strip() for name in args.databases.split(",") if name.strip()]
    results = []
    with tempfile.TemporaryDirectory(prefix="unionflow-bench-") as directory:
        for name in wanted:
            if name == "sqlite":
                engine = fresh_sqlite(Path(directory))
            elif name == "postgresql":
                engine = fresh_postgres(args.postgres_url)
            else:
                parser.error(f"unknown database {name!r}")
            try:
                results.append(bench_database(engine, settings, args.cases, args.threads, args.profile,
                                              with_peer=peer_skipped is None))
            finally:
                engine.dispose()
    print_report(results, args.cases, load_before, peer_skipped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
