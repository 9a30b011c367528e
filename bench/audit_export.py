"""Audit exports of 1,000,000 events by a city auditor: JSON Lines, XLSX and CSV, and the offline check.

Setup (not timed; done once and kept: a later run finds the database seeded and goes straight
to the measurements, ``--reseed`` starts over), on the database of ``--db`` (default the
PostgreSQL database ``test_b``, created if missing; **its schema ``public`` is dropped when
seeding**; an ``sqlite:///file`` URL works too):

1. Migrations and definitions; an org tree of a city, 2 counties, 20 townships and 200
   grassroots unions, an applicant per union, a reviewer per township and county, three city
   reviewers (the jury) and the city's auditor (without full personal data, so the export
   masks); an honours round at the city with quotas and its jury.
2. *Templates*, one per grassroots union, made by the engine's own operations over a few
   weeks of simulated time (``create_draft``, ``update_draft``, ``add_record``,
   ``perform_action``, ``comment_on_case``, ``cast_vote``), by turns one of three shapes
   (10 events a case on average: 200 templates × 500 cases = 1,000,000 events):
   - *awarded*, 13 events: create, veto declaration, submit, township and county approval,
     background opinion, city approval, three jury votes, jury passed, notice closed, award
     decision (transition inputs);
   - *returned*, 10 events: create, veto declaration, form change (ID number and phone),
     submit, returned by the township, form change (ID number), resubmitted, township and
     county approval, rejected by the city;
   - *rejected early*, 7 events: create, form change (phone), veto declaration, submit,
     township approval, county comment, rejected by the county.
   Every nomination carries an ID number (``id_number`` field): the create and form-change
   events hold it in their ``changes``, which the export masks.
3. *Copies* of each template, written in bulk (PostgreSQL ``COPY``, SQLite ``executemany``):
   the ``cases`` row with its own id, nominee name (title) and ID number, dates moved back by
   0–364 days; its audit events, the template's with the copy's case id, name, ID number and
   times, **chained and hashed as the engine does** (``prev_hash``, ``hash``, the case's
   ``audit_seq``/``audit_head``); its case-ledger entry (shards continued, heads updated).
   So ``verify_audit_chain`` passes on the copies (checked on a sample after seeding, on the
   whole database with ``--verify-db``) and so does the offline check of the export.
   Not copied: the copies' records, jury votes and closed deadline rows (the export never
   reads them). All cases are closed, so no inbox row is missing.
   Then ``VACUUM ANALYZE`` / ``ANALYZE``.

Measured, each export in a **fresh subprocess**, as the city auditor with ``AuditFilter()``
(everything in the city), masked (``--full-data``: as an auditor allowed full personal data).
Peak RSS is Linux's VmHWM of that process, reset just before the export starts
(``/proc/self/clear_refs``), so it is the export's peak over the interpreter, imports and
connection ("RSS at start", printed too), and holds neither the 64 MiB that importing
``engine.org.accounts`` takes for a moment (argon2 hashes a dummy password) nor the parent's
memory (``ru_maxrss`` of a child carries over the RSS of the process image it was exec'ed
from). Where VmHWM cannot be reset, a thread samples RSS every 50 ms instead.

- **jsonl**: ``begin_audit_export(..., fmt="jsonl", signer=...)``, commit, every line of
  ``export_lines(session, export)`` written to a file;
- **xlsx**: ``begin_audit_export(..., fmt="xlsx")``, commit, ``write_xlsx(session, export, file)``;
- **csv**: ``begin_audit_export(..., fmt="csv")``, commit, ``export_lines(session, export)`` to a file;
- **verify**: ``engine.reading.export_verify`` on the JSONL file with the published public keys, if
  that module exists (else skipped, and said so);
- **page**: the auditor's search page (50 events, ``AuditSearch.page``) starting 0, 1,000,
  500,000 and 999,000 events deep, the median of 5 runs each;
- **http**: the JSONL and CSV downloads from ``GET /api/v1/audit/exports`` served by gunicorn
  (one sync worker) to a client reading them to the end, and the worker's peak RSS.

Targets: JSONL ≥ 50,000 events/s; peak RSS < 150 MB (143 MiB) for JSONL and XLSX.

    .venv/bin/python bench/audit_export.py                         # PostgreSQL test_b, 100,000 cases / 1,000,000 events
    .venv/bin/python bench/audit_export.py --db sqlite:////tmp/audit_export.db
    .venv/bin/python bench/audit_export.py --cases 10000 --db postgresql+psycopg://postgres@127.0.0.1:5432/other
    .venv/bin/python bench/audit_export.py --only jsonl --profile  # + cProfile of the export
"""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import importlib.util
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import psutil
from measure import RssSampler, machine, peak_rss_mib, server_version
from sqlalchemy import make_url, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from stdnum.cn import ric

from engine.audit.chain import (
    GENESIS_HASH, LEDGER_SHARDS, AuditEvent, CaseLedgerHead, canonical_bytes, format_dt, ledger_payload, sha256_hex,
)
from engine.base.config import Settings, normalize_database_url
from engine.base.db import make_engine, make_session_factory
from engine.cases.case import Case
from engine.cases.integrity import verify_audit_chain
from engine.cases.records import add_record
from engine.cases.tasks import due_of
from engine.definitions.store import sync_definitions
from engine.migrate import upgrade
from engine.operations.transitions import comment_on_case, create_draft, perform_action, update_draft
from engine.org.units import SYSTEM_ACTOR, assign_role, create_org_unit, create_user, load_actor
from engine.procedures.juries import cast_vote, form_jury
from engine.procedures.rounds import open_round, set_quota
from engine.runtime import bootstrap, load_models

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/test_b"
DEFAULT_CASES = 100_000  # × 10 events on average (13, 10, 7 by turns) = 1,000,000 events
SEED_VERSION = 2
COUNTIES, TOWNSHIPS_PER_COUNTY, UNIONS_PER_TOWNSHIP = 2, 10, 10
AUDITOR = "auditor_city"  # masked exports
AUDITOR_FULL = "auditor_city_full"  # may export full personal data (--full-data)
TZ = ZoneInfo("Asia/Shanghai")
# Monday 9 March 2026, 09:00 in Shanghai: the templates' first day.
BASE = datetime(2026, 3, 9, 1, 0, tzinfo=timezone.utc)
AWARD = "labour_medal"
ROUND_SETTINGS = {"person_awards": [AWARD], "veto_items": ["wage_arrears"],
                  "background_checks": {"*": ["discipline"]}, "repeat_years": 5}
# 13, 7, 10 events by turns: of 200 templates 67, 67, 66, so 2,000 events per 200 cases.
SHAPES = ("awarded", "rejected_early", "returned")
TARGET_JSONL_EVENTS_PER_S = 50_000
TARGET_RSS_MIB = 150e6 / 2**20  # 150 MB = 143 MiB
MODES = ("jsonl", "xlsx", "csv", "verify", "page", "http")
HTTP_FORMATS = ("jsonl", "csv")
PAGE_DEPTHS = (0, 1000, 500_000, 999_000)  # events before the page, newest first
PAGE_RUNS = 5
SEED_TABLE = "bench_audit_export_seed"


# --- Database -------------------------------------------------------------------------------------

def database(url: str) -> Engine:
    """The engine for ``url``; a PostgreSQL database that does not exist yet is created."""
    url = normalize_database_url(url)
    if url.startswith("postgresql"):
        parsed = make_url(url)
        admin = make_engine(parsed.set(database="postgres").render_as_string(hide_password=False),
                            isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": parsed.database}) is None:
                conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        admin.dispose()
    return make_engine(url)


def seeded_as(engine: Engine) -> dict | None:
    """What the database was seeded with (cases, events), or None if it was not (completely)."""
    with engine.connect() as conn:
        if not engine.dialect.has_table(conn, SEED_TABLE):
            return None
        row = conn.execute(text(f"SELECT version, cases, events FROM {SEED_TABLE}")).first()
    return None if row is None or row.version != SEED_VERSION else {"cases": row.cases, "events": row.events}


def empty_database(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    else:
        path = Path(engine.url.database)
        engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


# --- Setup through the engine ---------------------------------------------------------------------

@dataclass
class Org:
    unions: list[tuple[int, str, str, str]]  # (union id, applicant, township reviewer, county reviewer)
    city_reviewer: str
    jurors: list[str]
    round_id: int


def build_org(factory: sessionmaker[Session]) -> Org:
    with factory() as session:
        def person(username: str, role: str, unit, **kwargs) -> str:
            assign_role(session, create_user(session, username=username, display_name=username), role, unit, **kwargs)
            return username

        city = create_org_unit(session, name="示范市总工会", level="city", kind="federation")
        jurors = [person(f"reviewer_city_{r + 1}", "reviewer", city) for r in range(3)]
        person(AUDITOR, "auditor", city)
        person(AUDITOR_FULL, "auditor", city, full_data=True)
        now = BASE
        round_ = open_round(session, None, kind="honours", unit=city, title="2026年度五一劳动奖评选", year=2026,
                            opens_dt=now - timedelta(days=30), closes_dt=now + timedelta(days=60),
                            categories=[AWARD], settings=ROUND_SETTINGS)
        form_jury(session, None, round_, title="评审委员会", member_ids=[
            session.scalar(text("SELECT id FROM users WHERE username = :u"), {"u": name}) for name in jurors])
        unions = []
        for c in range(COUNTIES):
            county = create_org_unit(session, name=f"第{c + 1}区总工会", level="county", parent=city, kind="federation")
            county_reviewer = person(f"reviewer_{c + 1}", "reviewer", county)
            set_quota(session, None, round_, county, AWARD, 1000)
            for t in range(TOWNSHIPS_PER_COUNTY):
                township = create_org_unit(session, name=f"第{c + 1}-{t + 1}街道总工会", level="township",
                                           parent=county, kind="federation")
                township_reviewer = person(f"reviewer_{c + 1}_{t + 1}", "reviewer", township)
                set_quota(session, None, round_, township, AWARD, 1000)
                for u in range(UNIONS_PER_TOWNSHIP):
                    union = create_org_unit(session, name=f"第{c + 1}-{t + 1}-{u + 1}公司工会", level="grassroots",
                                            parent=township)
                    applicant = person(f"applicant_{c + 1}_{t + 1}_{u + 1}", "applicant", union)
                    unions.append((union.id, applicant, township_reviewer, county_reviewer))
        session.commit()
        return Org(unions, jurors[0], jurors, round_.id)


def id_number(n: int) -> str:
    """A valid resident ID number, different for every n below 10,000,000 (birth day and sequence)."""
    born = datetime(1965, 1, 1) + timedelta(days=n % 10_000)
    body = f"110101{born:%Y%m%d}{n // 10_000 % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")  # (stdnum wants the 18 places; the last is ignored)


def nominee(n: int) -> str:
    """A nominee's name that no other name contains (it ends with 号), so it can be replaced as text."""
    return f"被推荐人{n}号"


def make_template(factory: sessionmaker[Session], org: Org, index: int) -> int:
    """One honours nomination through the engine, of shape ``SHAPES[index % 3]``; returns its case id."""
    union_id, applicant, township, county = org.unions[index]
    shape = SHAPES[index % len(SHAPES)]
    with factory() as session:
        actors = {}

        def actor(username):
            if username is None:
                return SYSTEM_ACTOR
            if username not in actors:
                user_id = session.scalar(text("SELECT id FROM users WHERE username = :u"), {"u": username})
                actors[username] = load_actor(session, user_id)
            return actors[username]

        clock = [BASE + timedelta(minutes=3 * index)]

        def at(hours: float = 0) -> datetime:
            clock[0] += timedelta(hours=hours, seconds=37)
            return clock[0]

        def act(who, trigger, hours, **kwargs):
            perform_action(session, actor(who), case, trigger, expected_version=case.version, now=at(hours), **kwargs)

        def declare():
            update_draft(session, actor(applicant), case, {"veto_declarations": {"wage_arrears": {"answer": "no"}}},
                         expected_version=case.version, now=at(0.2))

        form = {"award_type": AWARD, "nominee_name": nominee(index),  # sex and birth date from the ID number
                "ethnicity": "汉族", "id_number": id_number(9_000_000 + index),
                "political_status": "masses", "employer": f"第{index}机械制造有限公司", "post": "装配钳工",
                "ownership": "public" if index % 3 else "non_public", "industry": "制造业",
                "person_category": "frontline_technician", "phone": f"1380013{index:04d}",
                "merits_summary": "扎根一线二十年，主持技术革新十二项，带徒三十余人，所在班组连续五年零事故。"}
        case = create_draft(session, actor(applicant), "honours", form=form, round_id=org.round_id, now=at())
        if shape == "awarded":
            declare()
            act(applicant, "submit", 1)
            act(township, "approve", 20, comment="材料齐全，同意推荐")
            act(county, "approve", 26, comment="经研究，同意上报")
            add_record(session, actor(org.city_reviewer), case, "background_opinion",
                       {"body": "discipline", "opinion": "positive", "signer": "刘明",
                        "opinion_date": "2026-03-16"}, now=at(48))
            act(org.city_reviewer, "approve", 3, comment="初审通过")
            for juror in org.jurors:
                cast_vote(session, actor(juror), case, "approve", now=at(24))
            act(org.city_reviewer, "pass_jury", 1)
            due = due_of(session, case)
            clock[0] = due
            act(None, "close_notice", 0.02)
            act(org.city_reviewer, "approve", 20,
                inputs={"decision_number": "示工发〔2026〕12号", "decision_date": "2026-04-28"})
        elif shape == "returned":
            declare()
            update_draft(session, actor(applicant), case, {"id_number": id_number(9_100_000 + index),
                                                           "phone": f"1391013{index:04d}"},
                         expected_version=case.version, now=at(0.5))
            act(applicant, "submit", 1)
            act(township, "return", 22, comment="身份证号码与推荐表不一致，请核对后重新提交")
            update_draft(session, actor(applicant), case, {"id_number": id_number(9_200_000 + index)},
                         expected_version=case.version, now=at(3))
            act(applicant, "resubmit", 0.3, comment="已核对更正")
            act(township, "approve", 20, comment="同意推荐")
            act(county, "approve", 30)
            act(org.city_reviewer, "reject", 50, comment="名额有限，本次不予推荐")
        else:
            update_draft(session, actor(applicant), case, {"phone": f"1371013{index:04d}"},
                         expected_version=case.version, now=at(0.5))
            declare()
            act(applicant, "submit", 1)
            act(township, "approve", 25, comment="同意")
            comment_on_case(session, actor(county), case, "请补充近三年考核情况", now=at(24))
            act(county, "reject", 30, comment="事迹材料不足，不予推荐")
        session.commit()
        return case.id


def templates(factory: sessionmaker[Session], org: Org) -> list[int]:
    return [make_template(factory, org, index) for index in range(len(org.unions))]


# --- Bulk copies ----------------------------------------------------------------------------------

CASE_COLUMNS = [column.name for column in Case.__table__.columns]
CASE_JSON = {name for name in CASE_COLUMNS if name in ("chain", "form_data", "outcome")}
CASE_DATES = ("created_dt", "updated_dt", "submitted_dt", "closed_dt")
EVENT_COLUMNS = [column.name for column in AuditEvent.__table__.columns if column.name != "id"]
LEDGER_COLUMNS = ["shard", "seq", "case_id", "genesis_hash", "prev_hash", "hash"]
# Stand-ins in a template event's canonical payload, replaced per copy (values only: key order stays).
CASE_SENTINEL, DT_SENTINEL, PREV_SENTINEL = "987654321987654321", "@@occurred@@", "@@prev@@"


@dataclass
class TemplateEvent:
    values: dict          # the stored columns, JSON columns as canonical text
    payload: str          # canonical JSON of what the hash covers, with the stand-ins
    occurred_dt: datetime


@dataclass
class Template:
    case: dict
    name: str
    id_numbers: list[str]  # every ID number the trail holds (the form's, and the ones changed)
    events: list[TemplateEvent]


def _json_text(value) -> str | None:
    return None if value is None else canonical_bytes(value).decode("utf-8") if isinstance(value, dict) \
        else json.dumps(value, ensure_ascii=False)


def load_template(session: Session, case_id: int, index: int) -> Template:
    case = dict(session.execute(select(*Case.__table__.columns).where(Case.id == case_id)).mappings().one())
    events = []
    numbers = {case["form_data"]["id_number"]}
    for row in session.execute(select(AuditEvent.__table__).where(AuditEvent.case_id == case_id)
                               .order_by(AuditEvent.seq)).mappings():
        for change in (row["changes"] or {}).values():
            numbers.update(v for v in change.values() if isinstance(v, str) and len(v) == 18 and v[:6] == "110101")
        values = {name: row[name] for name in EVENT_COLUMNS}
        payload = {name: row[name] for name in EVENT_COLUMNS if name != "hash"}
        payload.update(case_id=int(CASE_SENTINEL), occurred_dt=DT_SENTINEL, prev_hash=PREV_SENTINEL)
        values["changes"], values["details"] = _json_text(row["changes"]), _json_text(row["details"])
        events.append(TemplateEvent(values, canonical_bytes(payload).decode("utf-8"), row["occurred_dt"]))
        # the payload must be exactly what the engine hashes: check it on the template's own values
        own = (events[-1].payload.replace(CASE_SENTINEL, str(case_id))
               .replace(f'"{DT_SENTINEL}"', json.dumps(format_dt(row["occurred_dt"])))
               .replace(f'"{PREV_SENTINEL}"', json.dumps(row["prev_hash"])))
        if hashlib.sha256(own.encode("utf-8")).hexdigest() != row["hash"]:
            raise SystemExit(f"template case {case_id} event {row['seq']}: payload does not reproduce its hash")
    return Template(case, nominee(index), sorted(numbers), events)


@dataclass
class CopyBatch:
    cases: list[tuple]
    events: list[tuple]
    ledger: list[tuple]


class Copier:
    """Copies of templates with their events chained and hashed, and ledger entries continued."""

    def __init__(self, tips: dict[int, tuple[int, str]], sqlite: bool):
        self.tips = tips  # ledger shard -> (last seq, last hash)
        self.sqlite = sqlite
        self.serial = 0

    def _dt(self, value: datetime | None):
        if value is None or not self.sqlite:
            return value
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")  # how SQLAlchemy stores it on SQLite

    def copies(self, template: Template, first_id: int, count: int) -> CopyBatch:
        batch = CopyBatch([], [], [])
        for case_id in range(first_id, first_id + count):
            self.serial += 1
            shift = timedelta(days=self.serial * 37 % 365, minutes=self.serial % 600)
            name = nominee(case_id)
            numbers = [(old, id_number(case_id * 3 + k)) for k, old in enumerate(template.id_numbers)]

            def swap(value: str) -> str:
                value = value.replace(template.name, name)
                for old, new in numbers:
                    value = value.replace(old, new)
                return value

            prev, seq = GENESIS_HASH, 0
            genesis = None
            for event in template.events:
                occurred = event.occurred_dt - shift
                payload = (swap(event.payload).replace(CASE_SENTINEL, str(case_id))
                           .replace(DT_SENTINEL, format_dt(occurred)).replace(PREV_SENTINEL, prev))
                digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()
                values = event.values
                row = dict(values, case_id=case_id, occurred_dt=self._dt(occurred), prev_hash=prev, hash=digest,
                           changes=values["changes"] and swap(values["changes"]),
                           details=values["details"] and swap(values["details"]))
                batch.events.append(tuple(row[name] for name in EVENT_COLUMNS))
                prev, seq = digest, values["seq"]
                genesis = genesis or digest
            case = dict(template.case, id=case_id, title=name, audit_seq=seq, audit_head=prev,
                        form_data=swap(_json_text(template.case["form_data"])),
                        subject_key=swap(template.case["subject_key"]) if template.case["subject_key"] else None)
            for column in CASE_JSON - {"form_data"}:
                case[column] = _json_text(template.case[column])
            for column in CASE_DATES:
                case[column] = self._dt(template.case[column] and template.case[column] - shift)
            batch.cases.append(tuple(case[name] for name in CASE_COLUMNS))
            shard = case_id % LEDGER_SHARDS
            last_seq, last_hash = self.tips.get(shard, (0, GENESIS_HASH))
            entry = SimpleNamespace(shard=shard, seq=last_seq + 1, case_id=case_id, genesis_hash=genesis,
                                    prev_hash=last_hash)
            entry.hash = sha256_hex(ledger_payload(entry))
            self.tips[shard] = (entry.seq, entry.hash)
            batch.ledger.append(tuple(getattr(entry, name) for name in LEDGER_COLUMNS))
        return batch


def write_batch(conn, dialect: str, batch: CopyBatch) -> None:
    raw = conn.connection.dbapi_connection
    tables = (("cases", CASE_COLUMNS, batch.cases), ("audit_events", EVENT_COLUMNS, batch.events),
              ("case_ledger_entries", LEDGER_COLUMNS, batch.ledger))
    if dialect == "postgresql":
        with raw.cursor() as cursor:
            for table, columns, rows in tables:
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
    else:
        cursor = raw.cursor()
        for table, columns, rows in tables:
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                               rows)
        cursor.close()


def seed(engine: Engine, settings: Settings, cases: int) -> dict:
    empty_database(engine)
    with engine.begin() as conn:
        upgrade(conn)
    factory = make_session_factory(engine)
    with factory() as session:
        sync_definitions(session, settings.workflows_dir)
        session.commit()
    started = time.perf_counter()
    org = build_org(factory)
    if cases < len(org.unions):
        raise SystemExit(f"--cases must be at least {len(org.unions)} (one template per union)")
    template_ids = templates(factory, org)
    print(f"  org and {len(template_ids)} template cases through the engine: {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    share, extra = divmod(cases, len(template_ids))
    dialect = engine.dialect.name
    with engine.begin() as conn, Session(bind=conn) as session:
        tips = {h.shard: (h.seq, h.hash) for h in session.scalars(select(CaseLedgerHead))}
        next_id = conn.scalar(text("SELECT max(id) FROM cases")) + 1
        copier = Copier(tips, sqlite=dialect == "sqlite")
        for index, template_id in enumerate(template_ids):
            count = share + (1 if index < extra else 0) - 1
            if count <= 0:
                continue
            batch = copier.copies(load_template(session, template_id, index), next_id, count)
            write_batch(conn, dialect, batch)
            next_id += count
            if (index + 1) % 50 == 0:
                print(f"    {index + 1} templates copied: {next_id - 1:,} cases, {time.perf_counter() - started:.0f} s")
        for shard, (seq, last) in copier.tips.items():
            conn.execute(text("UPDATE case_ledger_heads SET seq = :seq, hash = :hash WHERE shard = :shard"),
                         {"seq": seq, "hash": last, "shard": shard})
        if dialect == "postgresql":
            conn.execute(text("SELECT setval('cases_id_seq', (SELECT max(id) FROM cases))"))
        counted_cases = conn.scalar(text("SELECT count(*) FROM cases"))
        counted_events = conn.scalar(text("SELECT count(*) FROM audit_events"))
        conn.execute(text(f"CREATE TABLE {SEED_TABLE} (version integer, cases integer, events integer)"))
        conn.execute(text(f"INSERT INTO {SEED_TABLE} VALUES (:v, :c, :e)"),
                     {"v": SEED_VERSION, "c": counted_cases, "e": counted_events})
    print(f"  bulk copies: {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if dialect == "postgresql" else "ANALYZE"))
    print(f"  {'VACUUM ANALYZE' if dialect == 'postgresql' else 'ANALYZE'}: {time.perf_counter() - started:.1f} s")
    check_sample(factory, template_ids)
    return {"cases": counted_cases, "events": counted_events}


def check_sample(factory: sessionmaker[Session], template_ids: list[int]) -> None:
    """verify_audit_chain on a few templates and copies of every shape (ledger entries included)."""
    with factory() as session:
        last = session.scalar(text("SELECT max(id) FROM cases"))
        first_copy = max(template_ids) + 1
        sample = template_ids[:3] + list(range(first_copy, first_copy + 6)) + list(range(last - 5, last + 1))
        report = verify_audit_chain(session, sample)
    if not report.ok or report.cases_checked != len(sample):
        raise SystemExit(f"the copies do not verify: {report.cases_checked} cases checked, "
                         + "; ".join(map(str, report.problems[:10])))
    print(f"  verify_audit_chain on {len(sample)} sample cases (templates and copies): ok, "
          f"{report.events_checked} events")


def verify_database(engine: Engine) -> None:
    from engine.cases.integrity import verify_database as verify

    started = time.perf_counter()
    report = verify(engine)
    print(f"  verify_audit_chain on the whole database: {report.cases_checked:,} cases, "
          f"{report.events_checked:,} events, {len(report.problems)} problems, {time.perf_counter() - started:.1f} s")
    if not report.ok:
        raise SystemExit("; ".join(map(str, report.problems[:10])))


# --- Measuring one export in this process (the child) ---------------------------------------------


def memory_mib() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process, MiB: Linux's VmRSS and VmHWM (its high-water mark
    since the process started or since ``reset_peak``); elsewhere RSS and ``ru_maxrss``."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        rss = psutil.Process().memory_info().rss / 2**20
        return rss, max(rss, peak_rss_mib())
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def reset_peak() -> bool:
    """Start VmHWM afresh from the current RSS (Linux ≥ 4.0), so that the peak is the export's own
    and not the 64 MiB that ``import engine.org.accounts`` takes for a moment (argon2 hashes a dummy
    password at import). Whether it could."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def child(args) -> None:
    """One measurement in this (fresh) process; its result as the last line of stdout (JSON)."""
    from engine.audit.signing import load_signer, published_keys
    from engine.reading.audit_export import begin_audit_export, export_lines, write_xlsx
    from engine.reading.audit_search import AuditFilter

    load_models()
    bootstrap(Settings.from_env())
    engine = make_engine(normalize_database_url(args.db))
    factory = make_session_factory(engine)
    out = Path(args.out)
    result = {"mode": args.child}
    profiler = cProfile.Profile() if args.profile else None
    with factory() as session:
        if args.child == "verify":
            keys = [(key.key_id, key.public_key) for key in published_keys(session)]
        elif args.child == "page":
            print(json.dumps(run_pages(session)))
            return
        elif args.child == "http":
            print(json.dumps(run_http(session, args)))
            return
        else:
            auditor = AUDITOR_FULL if args.full_data else AUDITOR
            actor = load_actor(session, session.scalar(text("SELECT id FROM users WHERE username = :u"),
                                                       {"u": auditor}))
            # The key this run published (load_signer, not current_signer: another run on the same
            # database may have published a newer one meanwhile; retired keys stay published).
            signer = load_signer(Path(args.key_file)) if args.child == "jsonl" else None
        session.commit()
        result["rss_start_mib"], result["peak_before_mib"] = memory_mib()  # imports and setup
        result["peak_reset"] = reset_peak()
        with contextlib.nullcontext() if result["peak_reset"] else RssSampler(0.05) as sampler:
            started = time.perf_counter()
            if profiler:
                profiler.enable()
            if args.child == "verify":
                result.update(run_verify(out, keys))
            else:
                export = begin_audit_export(session, actor, AuditFilter(), fmt=args.child, full_data=args.full_data,
                                            now=datetime.now(timezone.utc), tz=TZ, signer=signer)
                session.commit()
                result["begin_seconds"] = time.perf_counter() - started
                with out.open("wb") as f:
                    if args.child == "xlsx":
                        written = write_xlsx(session, export, f)
                    else:
                        lines = 0
                        for chunk in export_lines(session, export):
                            f.write(chunk)
                            lines += 1
                        written = lines - 1  # the manifest (JSONL) or the header (CSV)
                result.update(events=written, expected=export.expected_count, bytes=out.stat().st_size)
            if profiler:
                profiler.disable()
            result["seconds"] = time.perf_counter() - started
        result["rss_end_mib"], result["peak_rss_mib"] = memory_mib()
        if sampler is not None:
            result["peak_rss_mib"] = max(sampler.peak_mib, result["rss_end_mib"])
    engine.dispose()
    if profiler:
        profiler.dump_stats(args.out + ".prof")
        result["profile"] = args.out + ".prof"
    print(json.dumps(result))


def run_pages(session: Session) -> dict:
    """The auditor's search page (``AuditSearch.page``, 50 events) starting at each depth: the
    median of PAGE_RUNS runs, in ms."""
    from engine.reading.audit_search import AuditFilter, Cursor, audit_search

    actor = load_actor(session, session.scalar(text("SELECT id FROM users WHERE username = :u"), {"u": AUDITOR}))
    search = audit_search(session, actor, AuditFilter(), tz=TZ)
    medians = {}
    for depth in PAGE_DEPTHS:
        after = None
        if depth:
            last_before = select(AuditEvent.occurred_dt, AuditEvent.id).order_by(
                AuditEvent.occurred_dt.desc(), AuditEvent.id.desc()).offset(depth - 1).limit(1)
            after = Cursor(*session.execute(last_before).one())
        times = []
        for _ in range(PAGE_RUNS):
            started = time.perf_counter()
            page = search.page(after)
            times.append((time.perf_counter() - started) * 1000)
        if len(page.rows) != 50:
            raise SystemExit(f"a page {depth:,} events deep held {len(page.rows)} rows")
        medians[str(depth)] = sorted(times)[PAGE_RUNS // 2]
    return {"mode": "page", "page_ms": medians}


def run_http(session: Session, args) -> dict:
    """Each download as an auditor's script gets it: ``GET /api/v1/audit/exports`` from gunicorn
    (one sync worker, the production server), read to the end and counted. The worker's peak
    RSS is its VmHWM after the downloads (its imports and app included)."""
    import urllib.request

    from engine.org.accounts import create_api_token

    actor = load_actor(session, session.scalar(text("SELECT id FROM users WHERE username = :u"), {"u": AUDITOR}))
    _token, secret = create_api_token(session, actor, "bench audit_export http")
    session.commit()
    port = 5000 + os.getpid() % 1000 + 1000
    env = {**os.environ, "UNIONFLOW_DATABASE_URL": args.db, "UNIONFLOW_SIGNING_KEY_FILE": args.key_file,
           "UNIONFLOW_SECRET_KEY": os.urandom(16).hex(), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    log = Path(args.out).with_name("gunicorn.log")
    with log.open("wb") as log_file:
        server = subprocess.Popen([str(gunicorn), "-w", "1", "--timeout", "900", "-b", f"127.0.0.1:{port}",
                                   "web:create_app()"], env=env, stdout=log_file, stderr=subprocess.STDOUT)
    result = {"mode": "http", "downloads": {}}
    try:
        for _ in range(100):  # up to 10 s for the worker to start
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/audit/public-keys", timeout=1).close()
                break
            time.sleep(0.1)
        for fmt in HTTP_FORMATS:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/audit/exports?format={fmt}",
                                             headers={"Authorization": f"Bearer {secret}"})
            started = time.perf_counter()
            size = lines = 0
            with urllib.request.urlopen(request, timeout=900) as response:
                while chunk := response.read(1 << 20):
                    size += len(chunk)
                    lines += chunk.count(b"\n")
            result["downloads"][fmt] = {"seconds": time.perf_counter() - started, "bytes": size,
                                        "events": lines - 1}  # the manifest or the header (no newline in a cell)
        [worker] = psutil.Process(server.pid).children()
        status = Path(f"/proc/{worker.pid}/status").read_text()
        result["worker_peak_rss_mib"] = int(status.split("VmHWM:")[1].split()[0]) / 1024
    except Exception:
        print(log.read_text()[:6000])  # the server's side of it
        raise
    finally:
        server.terminate()
        server.wait()
    return result


def run_verify(path: Path, keys: list[tuple[str, str]]) -> dict:
    """engine.reading.export_verify's offline check of the JSONL file against the published public keys."""
    from engine.audit.signing import parse_public_key
    from engine.reading.export_verify import public_keys_by_id, verify_export_file

    report = verify_export_file(path, public_keys_by_id(parse_public_key(b64) for _key_id, b64 in keys))
    return {"ok": report.ok, "events": report.events, "masked": report.masked, "lines": report.lines,
            "problems": [str(p) for p in report.problems[:10]], "problem_count": report.problem_count}


# --- The parent: seed, run each measurement in a subprocess, report -------------------------------

def measure(mode: str, args, workdir: Path, key_file: Path) -> dict:
    out = workdir / ("audit-export.jsonl" if mode == "verify" else f"audit-export.{mode}")
    command = [sys.executable, __file__, "--child", mode, "--db", args.db, "--out", str(out),
               "--key-file", str(key_file)] + (["--profile"] if args.profile else []) \
        + (["--full-data"] if args.full_data else [])
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{done.stdout}\n{done.stderr}")
    lines = done.stdout.strip().splitlines()
    for line in lines[:-1]:
        print("    " + line)
    return json.loads(lines[-1])


def print_profile(path: str, mode: str) -> None:
    print(f"\n  cProfile of the {mode} export (profiler on), tottime, top 25:")
    pstats.Stats(path).sort_stats("tottime").print_stats(25)
    print("  cumulative, top 40:")
    pstats.Stats(path).sort_stats("cumulative").print_stats(40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default=os.environ.get("UNIONFLOW_BENCH_AUDIT_DATABASE_URL", DEFAULT_DB),
                        help=f"database (default {DEFAULT_DB}); PostgreSQL: created if missing, its schema public "
                             "DROPPED when seeding; or sqlite:///path")
    parser.add_argument("--cases", type=int, default=DEFAULT_CASES,
                        help=f"cases to seed, 10 events each on average (default {DEFAULT_CASES:,})")
    parser.add_argument("--reseed", action="store_true", help="seed again even if the database is seeded")
    parser.add_argument("--only", default=",".join(MODES), help=f"measurements to run (default {','.join(MODES)})")
    parser.add_argument("--verify-db", action="store_true", help="verify_audit_chain over the whole database first")
    parser.add_argument("--profile", action="store_true", help="cProfile of each measurement")
    parser.add_argument("--full-data", action="store_true",
                        help="export as the auditor with full personal data (nothing masked: the verifier then "
                             "recomputes every event hash)")
    parser.add_argument("--keep", metavar="DIR", help="write the export files into DIR and keep them")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--key-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    modes = [mode for mode in args.only.split(",") if mode]
    if set(modes) - set(MODES):
        raise SystemExit(f"--only takes {', '.join(MODES)}")

    load_models()
    settings = Settings.from_env()
    bootstrap(settings)
    engine = database(args.db)
    print(f"{server_version(engine)}, {engine.url.render_as_string(hide_password=True)}")
    print(f"machine: {machine()}")
    seeded = None if args.reseed else seeded_as(engine)
    if seeded is None or seeded["cases"] != args.cases:
        print(f"seeding {args.cases:,} cases" + (f" (the database held {seeded['cases']:,})" if seeded else ""))
        started = time.perf_counter()
        seeded = seed(engine, settings, args.cases)
        print(f"  seeded {seeded['cases']:,} cases, {seeded['events']:,} events "
              f"in {time.perf_counter() - started:.0f} s")
    else:
        print(f"already seeded: {seeded['cases']:,} cases, {seeded['events']:,} events (--reseed to start over)")
        with engine.begin() as conn:
            upgrade(conn)  # migrations added since the seeding (the rows stay)
    if args.verify_db:
        verify_database(engine)

    from engine.audit.signing import create_signing_key

    with tempfile.TemporaryDirectory(prefix="uf-audit-export-") as tmp:
        workdir = Path(args.keep) if args.keep else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        key_file = Path(tmp) / "signing-key.pem"
        with make_session_factory(engine)() as session:
            create_signing_key(session, None, key_file, now=datetime.now(timezone.utc))
            session.commit()
        engine.dispose()
        if "verify" in modes and "jsonl" not in modes and not (workdir / "audit-export.jsonl").exists():
            modes.insert(0, "jsonl")  # the file to verify
        has_verifier = importlib.util.find_spec("engine.reading.export_verify") is not None
        results = {}
        for mode in modes:
            if mode == "verify" and not has_verifier:
                print("\nverify: skipped, engine.reading.export_verify does not exist (yet)")
                continue
            print(f"\n{mode}: in a fresh process …")
            r = results[mode] = measure(mode, args, workdir, key_file)
            if mode == "page":
                print("  the auditor's search page of 50 events, median of "
                      f"{PAGE_RUNS}: " + ", ".join(f"{int(depth):,} deep {ms:.1f} ms" for depth, ms in r["page_ms"].items()))
                continue
            if mode == "http":
                for fmt, d in r["downloads"].items():
                    if d["events"] != seeded["events"]:
                        raise SystemExit(f"http {fmt}: {d['events']:,} events downloaded, {seeded['events']:,} "
                                         "in the database")
                    print(f"  GET /api/v1/audit/exports?format={fmt} from gunicorn: {d['events']:,} events in "
                          f"{d['seconds']:.1f} s = {d['events'] / d['seconds']:,.0f} events/s, "
                          f"{d['bytes'] / 2**20:,.0f} MiB")
                print(f"  the gunicorn worker's peak RSS (from its start): {r['worker_peak_rss_mib']:.0f} MiB")
                continue
            memory = (f"RSS at start {r['rss_start_mib']:.0f} MiB (peak before {r['peak_before_mib']:.0f}), "
                      f"peak during the export {r['peak_rss_mib']:.0f} MiB "
                      f"({'VmHWM since the start' if r['peak_reset'] else 'sampled every 50 ms'}), "
                      f"at the end {r['rss_end_mib']:.0f}")
            if mode == "verify":
                print(f"  {'ok' if r['ok'] else 'FAILED'}: {r['events']:,} events ({r['masked']:,} masked, their "
                      f"hashes not recomputable) in {r['seconds']:.1f} s = {r['events'] / r['seconds']:,.0f} events/s; "
                      f"{memory}")
                if not r["ok"]:
                    raise SystemExit(f"the export does not verify: {r['problem_count']} problems: {r['problems']}")
            else:
                if r["events"] != r["expected"] or r["events"] != seeded["events"]:
                    raise SystemExit(f"{mode}: {r['events']:,} events written, {r['expected']:,} counted, "
                                     f"{seeded['events']:,} in the database")
                print(f"  {r['events']:,} events in {r['seconds']:.1f} s (begin {r['begin_seconds']:.2f} s) = "
                      f"{r['events'] / r['seconds']:,.0f} events/s, {r['bytes'] / 2**20:,.0f} MiB written; {memory}")
            if args.profile:
                print_profile(r["profile"], mode)

    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    print("\n| export | events | seconds | events/s | MiB written | RSS at start MiB | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for mode, r in results.items():
        if mode in ("page", "http"):
            continue
        events = r["events"]
        print(f"| {mode} | {events:,} | {r['seconds']:.1f} | {events / r['seconds']:,.0f} | "
              f"{r.get('bytes', 0) / 2**20:,.0f} | {r['rss_start_mib']:.0f} | {r['peak_rss_mib']:.0f} |")
    if "jsonl" in results:
        r = results["jsonl"]
        rate = r["events"] / r["seconds"]
        print(f"target JSONL ≥ {TARGET_JSONL_EVENTS_PER_S:,} events/s: "
              f"{'met' if rate >= TARGET_JSONL_EVENTS_PER_S else 'NOT met'} ({rate:,.0f})")
    for mode in ("jsonl", "xlsx"):
        if mode in results:
            peak = results[mode]["peak_rss_mib"]
            print(f"target {mode} peak RSS < 150 MB ({TARGET_RSS_MIB:.0f} MiB): "
                  f"{'met' if peak < TARGET_RSS_MIB else 'NOT met'} ({peak:.0f} MiB)")


if __name__ == "__main__":
    main()
