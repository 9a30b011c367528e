"""The ``unionflow`` command: database schema, definitions, demo data, audit checks, the working-day
calendar, the deadline scan, the demo server.

Every command reads the deployment settings from the environment (see engine.base.config);
``--db URL`` points one command at another database. Domain errors end the command
with their message and exit status 1, never a traceback.
"""
from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Iterator

import click
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from engine.audit.signing import (
    SigningKeyMissing, create_signing_key, current_signer, parse_public_key, public_key_pem, published_keys,
)
from engine.base.config import Settings, normalize_database_url
from engine.base.db import make_engine, make_session_factory, utcnow
from engine.base.errors import DefinitionError, UnionflowError, ValidationFailed
from engine.calendar.working_days import calendar_coverage, parse_calendar_table
from engine.cases.attachments import FileStore
from engine.cases.integrity import verify_database
from engine.definitions.rules import load_rule_modules
from engine.definitions.store import read_definition_files, sync_definitions
from engine.migrate import alembic_config, upgrade
from engine.operations.calendar_keeping import enter_calendar_days
from engine.operations.deadline_scan import scan_deadlines
from engine.operations.purge import PurgeRefused, delete_freed_files, plan_purge, purge_cases
from engine.org.units import User, load_actor
from engine.reading.audit_export import FORMATS, begin_audit_export, export_lines, write_xlsx
from engine.reading.audit_search import AuditFilter
from engine.reading.export_verify import public_keys_by_id, verify_export_file
from engine.runtime import bootstrap, load_models
from engine.worker import delivery_settings, start_embedded_beat, use_database
from unionflow.demo import DEMO_PASSWORD, seed_demo_cases, seed_demo_org


class UnionflowGroup(click.Group):
    """Turns the engine's own errors into one clean message and exit status 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DefinitionError as err:
            raise click.ClickException(definition_report(err)) from None
        except UnionflowError as err:
            raise click.ClickException(err.message) from None
        except (OperationalError, ProgrammingError) as err:
            raise click.ClickException(f"database error: {err.orig}") from None


def definition_report(err: DefinitionError) -> str:
    """One line per problem, each naming its file and field."""
    files = err.path.split(", ")
    lines = [p if any(p.startswith(f"{name}: ") for name in files) else f"{err.path}: {p}" for p in err.problems]
    return "invalid workflow definition:\n  " + "\n  ".join(lines)


def database_option(command):
    return click.option(
        "--db", "database_url", metavar="URL", is_flag=False, flag_value="", default=None,
        help="Database URL (default: UNIONFLOW_DATABASE_URL, else sqlite:///instance/unionflow.db).",
    )(command)


def workflows_dir_option(command):
    return click.option(
        "--dir", "workflows_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
        help="Directory of definition files (default: UNIONFLOW_WORKFLOWS_DIR, else the bundled workflows/).",
    )(command)


def load_settings(database_url: str | None = None, workflows_dir: Path | None = None) -> Settings:
    settings = Settings.from_env()
    if database_url:
        settings = replace(settings, database_url=normalize_database_url(database_url))
    if workflows_dir is not None:
        settings = replace(settings, workflows_dir=workflows_dir)
    return settings


def shown_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def connected(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def upgrade_database(settings: Settings) -> None:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    with connected(settings) as engine, engine.begin() as connection:
        upgrade(connection)


def require_current_schema(engine: Engine) -> None:
    """Refuse to work on a database that `unionflow db upgrade` has not brought to head."""
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    if current != heads:
        raise click.ClickException(
            f"the database {shown_url(str(engine.url))} is not at the current schema: "
            "run `unionflow db upgrade` (or `unionflow demo setup` for the demo)"
        )


def load_definitions(engine: Engine, settings: Settings) -> None:
    with make_session_factory(engine)() as session:
        results = sync_definitions(session, settings.workflows_dir)
        session.commit()
    if not results:
        click.echo(f"no definitions (*.yaml) in {settings.workflows_dir}")
    for result in results:
        status = "new" if result.is_new_version else "unchanged"
        click.echo(f"{result.kind:<20} {result.content_hash[:12]}  {status}")


# --- Commands -------------------------------------------------------------------------------------

@click.group(cls=UnionflowGroup)
def cli() -> None:
    """unionflow: workflow and approval engine for trade unions (工会)."""
    load_models()


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@database_option
def db_upgrade(database_url: str | None) -> None:
    """Create or migrate the schema to the latest revision."""
    settings = load_settings(database_url)
    upgrade_database(settings)
    click.echo(f"database at the current schema: {shown_url(settings.database_url)}")


@cli.group()
def definitions() -> None:
    """Workflow definitions (the YAML files in workflows/)."""


@definitions.command("load")
@database_option
@workflows_dir_option
def definitions_load(database_url: str | None, workflows_dir: Path | None) -> None:
    """Store each definition's current version; running cases keep theirs."""
    settings = load_settings(database_url, workflows_dir)
    bootstrap(settings)
    with connected(settings) as engine:
        require_current_schema(engine)
        load_definitions(engine, settings)


@definitions.command("check")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
def definitions_check(directory: Path) -> None:
    """Parse and validate the definitions in DIRECTORY without touching a database."""
    bootstrap(load_settings())
    load_rule_modules(directory)  # rules that live beside the checked files
    parsed = read_definition_files(directory)
    if not parsed:
        raise click.ClickException(f"no definitions (*.yaml) in {directory}")
    for path, definition in parsed:
        click.echo(f"{path.name}: {definition.kind} {definition.content_hash[:12]} ok")


@cli.group()
def demo() -> None:
    """The demo city (示范市总工会) with its people and cases."""


@demo.command("setup")
@database_option
def demo_setup(database_url: str | None) -> None:
    """Upgrade the database, load the definitions and seed the demo data (safe to run again)."""
    settings = load_settings(database_url)
    bootstrap(settings)
    upgrade_database(settings)
    click.echo(f"database at the current schema: {shown_url(settings.database_url)}")
    with connected(settings) as engine:
        load_definitions(engine, settings)
        factory = make_session_factory(engine)
        with factory() as session:
            units, users = seed_demo_org(session)
            session.commit()
        click.echo(f"demo organisation: {units} units and {users} users created" if units
                   else "demo organisation: already present")
        with factory() as session:
            # A failure here is a bug (the seed uses the real operations): let it stop the demo.
            cases = seed_demo_cases(session, FileStore(settings.attachments_dir))
            session.commit()
        click.echo(f"demo cases: {cases} created" if cases else "demo cases: already present")
        with factory() as session:
            key = ensure_demo_signing_key(session, settings.signing_key_file)
            session.commit()
        click.echo(f"audit export signing key: {key} ({settings.signing_key_file})")
    click.echo(f"demo password for every account: {DEMO_PASSWORD}")


def ensure_demo_signing_key(session, path: Path) -> str:
    """The demo signs its exports too: a key is made unless the file holds the published one."""
    try:
        key_id = current_signer(session, path).key_id
    except SigningKeyMissing:
        return f"{create_signing_key(session, None, path, now=utcnow(), replace=True).key_id} created"
    return f"{key_id} present"


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, type=int, show_default=True)
@database_option
def run(host: str, port: int, database_url: str | None) -> None:
    """Serve the demo with Flask's development server (demo accounts shown on the home page)."""
    # Only the command that serves loads the web app: the worker and the other commands stay light.
    from unionflow.app import create_app

    # The deadline scan and the mail it sends report to this log, errors with their traceback.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(load_settings(database_url), DEMO=True)
    require_current_schema(app.extensions["unionflow"].engine)
    if delivery_settings().broker_url is None:  # embedded: no beat process, the scan runs here
        start_embedded_beat()
        click.echo("deadline scan: every minute, in this process")
    click.echo(f"unionflow demo on http://{host}:{port}/")
    app.run(host=host, port=port, debug=False, use_reloader=False)


@cli.group()
def audit() -> None:
    """The hash-chained audit trail."""


@audit.command("verify")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--public-key", "public_keys", multiple=True, metavar="PEM_FILE|BASE64",
              help="A trusted public key (PEM file, or base64 of the 32 raw bytes); may be repeated. "
                   "Default: the keys this deployment publishes (read from the database).")


@database_option
def audit_verify(file: Path | None, public_keys: tuple[str, ...], database_url: str | None) -> None:
    """Check an exported FILE.jsonl offline (hashes, links, count, signature), or, without FILE,
    recompute every audit chain, the case ledger and the system log of the database (--db).
    Exit 1 on any problem."""
    settings = load_settings(database_url)
    if file is not None:
        verify_export_command(file, public_keys, settings)
        return
    with connected(settings) as engine:
        require_current_schema(engine)
        report = verify_database(engine)
    purged = f" ({report.cases_purged} purged cases by their tombstones)" if report.cases_purged else ""
    click.echo(f"checked {report.cases_checked} cases{purged}, {report.events_checked} audit events and "
               f"{report.system_events_checked} system log events in {shown_url(settings.database_url)}")
    for problem in report.problems:
        click.echo(f"problem: {problem}")
    if not report.ok:
        click.echo(f"{len(report.problems)} problem(s) found")
        raise click.exceptions.Exit(1)
    click.echo("audit trail intact")


@audit.command("purge")
@click.option("--kind", metavar="KIND", help="Every case of this kind whose retention period has run out.")
@click.option("--case", "case_ids", metavar="ID", type=int, multiple=True,
              help="A case to purge (repeat for more): all are purged, or none if one is refused.")


@click.option("--reason", default="", help="Why, and on what legal basis: kept in the system log (needed unless --dry-run).")
@click.option("--dry-run", is_flag=True, help="Only list what would be purged and what is refused; change nothing.")
@click.option("--now", "moment", metavar="DATETIME",
              help="Purge as of this moment, e.g. 2036-05-10T00:00 (local time unless it names an offset); default: now.")


@database_option
def audit_purge(kind: str | None, case_ids: tuple[int, ...], reason: str, dry_run: bool, moment: str | None,
                database_url: str | None) -> None:
    """Purge closed cases past their retention period, leaving tombstones that keep the audit trail
    verifiable, and delete the attachment files no other case cites. Exit 1 if a named case is refused."""
    if not kind and not case_ids:
        raise click.UsageError("name the cases (--case ID) or a kind (--kind KIND) to purge")
    if not dry_run and not reason.strip():
        raise click.UsageError("--reason is required: why, and on what legal basis, the cases are purged")
    settings = load_settings(database_url)
    now = parse_moment(moment, settings) if moment else utcnow()
    local_day = lambda moment: f"{moment.astimezone(settings.timezone):%Y-%m-%d}"  # noqa: E731
    with connected(settings) as engine:
        require_current_schema(engine)
        with make_session_factory(engine)() as session:
            if dry_run:
                plan = plan_purge(session, case_ids=case_ids, kind=kind, now=now)
                for case in plan.cases:
                    click.echo(f"would purge case {case.id} {case.kind} closed {local_day(case.closed_dt)}")
                for refusal in plan.refusals:
                    click.echo(f"refused: {refusal}")
                click.echo(f"dry run: {len(plan.cases)} case(s) would be purged, {len(plan.refusals)} refused; "
                           "nothing changed")
                if plan.named and plan.refusals:
                    raise click.exceptions.Exit(1)
                return
            try:
                result = purge_cases(session, None, case_ids=case_ids, kind=kind, reason=reason, now=now)
            except PurgeRefused as refused:
                for refusal in refused.refusals:
                    click.echo(f"refused: {refusal}")
                click.echo("nothing purged")
                raise click.exceptions.Exit(1) from None
            session.commit()
            # Only now: a file deleted before the commit would be lost if the commit failed.
            deleted = delete_freed_files(session, FileStore(settings.attachments_dir), result.freed_files)
    for tombstone in result.tombstones:
        click.echo(f"purged case {tombstone.case_id} {tombstone.kind} closed {local_day(tombstone.closed_dt)}, "
                   "tombstone kept")
    for refusal in result.refusals:
        click.echo(f"refused: {refusal}")
    if result.event_seq is None:
        click.echo("nothing due for purging")
    else:
        click.echo(f"system log event {result.event_seq}: {len(result.tombstones)} case(s) purged, "
                   f"{deleted} attachment file(s) deleted")


def verify_export_command(file: Path, key_args: tuple[str, ...], settings: Settings) -> None:
    keys = public_keys_by_id(trusted_key(arg) for arg in key_args) if key_args else deployment_keys(settings)
    report = verify_export_file(file, keys)
    manifest = report.manifest or {}
    click.echo(f"{file}: {report.lines} lines, {report.events} events"
               + (f" ({report.masked} with personal data masked: their hashes cannot be recomputed)"
                  if report.masked else ""))
    if manifest:
        by = manifest.get("exported_by") or {}
        click.echo(f"export {manifest.get('export_id')} by {by.get('name')} ({by.get('unit_name')}) "
                   f"at {manifest.get('exported_at')}, filters {json.dumps(manifest.get('filters'), ensure_ascii=False)}, "
                   f"signed with key {manifest.get('key_id')}")
    for problem in report.problems:
        click.echo(f"problem: {problem}")
    if not report.ok:
        more = report.problem_count - len(report.problems)
        click.echo(f"{report.problem_count} problem(s) found" + (f" ({more} not listed)" if more else "")
                   + (f"; the first bad line is {report.problems[0].line}" if report.problems[0].line else ""))
        raise click.exceptions.Exit(1)
    click.echo("export intact: every hash, link, the count and the signature check out")


def trusted_key(arg: str):
    """``--public-key``: a PEM file, or the key itself as base64."""
    path = Path(arg)
    text = path.read_text() if path.is_file() else arg
    try:
        return parse_public_key(text)
    except ValidationFailed:
        raise click.BadParameter(f"{arg!r} is neither a PEM public-key file nor a base64 Ed25519 key",
                                 param_hint="--public-key") from None


def deployment_keys(settings: Settings) -> dict:
    try:
        with connected(settings) as engine, make_session_factory(engine)() as session:
            published = published_keys(session)
    except (OperationalError, ProgrammingError):
        published = []
    if not published:
        raise click.ClickException(
            f"no published keys in {shown_url(settings.database_url)}: pass the deployment's key with --public-key")
    return public_keys_by_id(parse_public_key(key.public_key) for key in published)


@audit.command("export")
@click.option("--as", "username", required=True, help="The auditor exporting (a username); the export covers "
                                                       "their units' subtrees and is recorded under their name.")


@click.option("--format", "fmt", type=click.Choice(FORMATS), default="jsonl", show_default=True)
@click.option("--out", "out", required=True, metavar="FILE", help="Where to write; - for standard output.")
@click.option("--from", "date_from", metavar="YYYY-MM-DD", help="Events on or after this day (local time).")
@click.option("--to", "date_to", metavar="YYYY-MM-DD", help="Events on or before this day (local time).")
@click.option("--kind", help="Cases of this kind (e.g. hardship_aid).")
@click.option("--round", "round_id", metavar="ID", help="Cases of this round.")
@click.option("--unit", "unit_id", metavar="ID", help="Cases originating in this unit's subtree.")
@click.option("--actor", help="Part of the acting person's name or username.")
@click.option("--case", "case_id", metavar="ID", help="One case.")
@click.option("--full-data", is_flag=True, help="ID numbers and bank accounts unmasked (needs the permission; recorded).")
@database_option
def audit_export(username: str, fmt: str, out: str, full_data: bool, database_url: str | None, **filters) -> None:
    """Export the audit events an auditor may read, filtered, as JSON Lines (signed), CSV or XLSX."""
    settings = load_settings(database_url)
    args = {"date_from": filters["date_from"], "date_to": filters["date_to"], "kind": filters["kind"],
            "round": filters["round_id"], "unit": filters["unit_id"], "actor": filters["actor"],
            "case_id": filters["case_id"]}
    bootstrap(settings)
    with problems_listed(), connected(settings) as engine:
        require_current_schema(engine)
        with make_session_factory(engine)() as session:
            actor = load_actor(session, user_id_of(session, username))
            signer = current_signer(session, settings.signing_key_file) if fmt == "jsonl" else None
            export = begin_audit_export(session, actor, AuditFilter.from_args(args), fmt=fmt, full_data=full_data,
                                        now=utcnow(), tz=settings.timezone, signer=signer)
            session.commit()  # recorded before a byte is written
            with click.open_file(out, "wb") as target:
                count = write_export(session, export, target)
    click.echo(f"exported {count} audit events as {fmt} to {out} (export {export.export_id}, "
               f"system log event {export.log_event.seq})", err=out == "-")


def write_export(session, export, target) -> int:
    """Write the export; the number of events (the pieces but the CSV header or the JSONL manifest)."""
    if export.format == "xlsx":
        return write_xlsx(session, export, target)
    written = 0
    for piece in export_lines(session, export):
        target.write(piece)
        written += 1
    return written - 1


def user_id_of(session, username: str) -> int:
    user_id = session.scalar(select(User.id).where(User.username == username))
    if user_id is None:
        raise click.ClickException(f"no user {username!r}")
    return user_id


@audit.command("create-key")
@click.option("--replace", is_flag=True, help="Replace an existing key; the old public key stays published.")
@database_option
def audit_create_key(replace: bool, database_url: str | None) -> None:
    """Create the Ed25519 key that signs JSON Lines exports (private key: UNIONFLOW_SIGNING_KEY_FILE)."""
    settings = load_settings(database_url)
    with connected(settings) as engine:
        require_current_schema(engine)
        with make_session_factory(engine)() as session:
            key = create_signing_key(session, None, settings.signing_key_file, now=utcnow(), replace=replace)
            session.commit()
    click.echo(f"signing key {key.key_id} created; private key in {settings.signing_key_file} (keep it secret, "
               "back it up)")
    click.echo(f"public key (base64): {key.public_key}")
    click.echo(public_key_pem(key.public_key), nl=False)


@audit.command("public-key")
@database_option
def audit_public_key(database_url: str | None) -> None:
    """Print the current public key (PEM), to hand to whoever verifies exports."""
    settings = load_settings(database_url)
    with connected(settings) as engine:
        require_current_schema(engine)
        with make_session_factory(engine)() as session:
            keys = [key for key in published_keys(session) if key.retired_dt is None]
    if not keys:
        raise click.ClickException("no signing key yet: run `unionflow audit create-key`")
    click.echo(public_key_pem(keys[0].public_key), nl=False)


@cli.group()
def calendar() -> None:
    """The working-day calendar: years and days the chinesecalendar package does not know."""


@calendar.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--year", type=int, help="The whole year the file holds (its holidays and make-up working days).")
@click.option("--source", default="", help="Where the schedule was published, e.g. the State Council notice.")
@database_option
def calendar_import(file: Path, year: int | None, source: str, database_url: str | None) -> None:
    """Enter the days of a CSV or Excel table (columns 日期, 类型 休/班, 说明): all or none."""
    settings = load_settings(database_url)
    with problems_listed():
        entries = parse_calendar_table(file.read_bytes(), file.name)
        with connected(settings) as engine:
            require_current_schema(engine)
            with make_session_factory(engine)() as session:
                # No actor: the operator at the command line keeps the calendar.
                result = enter_calendar_days(session, None, entries, year=year, source=source)
                session.commit()
    entered = f"year {result.year} entered; " if result.year else ""
    click.echo(f"{entered}{result.added} days added, {result.changed} changed, {result.unchanged} unchanged "
               f"in {shown_url(settings.database_url)}")


@contextmanager
def problems_listed() -> Iterator[None]:
    """A refused input ends the command with every message, by line, not just the summary."""
    try:
        yield
    except ValidationFailed as err:
        lines = [message for messages in err.fields.values() for message in messages]
        raise click.ClickException("\n  ".join([err.message, *lines])) from None


@calendar.command("status")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), help="Check as of this day (default: today).")
@database_option
def calendar_status(today, database_url: str | None) -> None:
    """How far the working-day calendar reaches, and the warning admins see."""
    settings = load_settings(database_url)
    day = today.date() if today else utcnow().astimezone(settings.timezone).date()
    with connected(settings) as engine:
        require_current_schema(engine)
        with make_session_factory(engine)() as session:
            coverage = calendar_coverage(session, day, settings.calendar_warning_days)
    click.echo(f"package (chinesecalendar) covers up to {coverage.package_last_year}")
    for entered in coverage.entered_years:
        click.echo(f"entered: {entered.year}" + (f" ({entered.source})" if entered.source else ""))
    click.echo(f"covered until {coverage.covered_until.isoformat()} ({coverage.days_left} days from {day.isoformat()})")
    click.echo(("warning: " if coverage.warn else "") + coverage.message)


@cli.group()
def deadlines() -> None:
    """Deadlines: reminders, automatic steps and escalation."""


@deadlines.command("scan")
@click.option("--now", "moment", metavar="DATETIME",
              help="Scan as of this moment, e.g. 2026-05-10T00:00 (local time unless it names an offset); "
                   "default: now.")


@database_option
def deadlines_scan(moment: str | None, database_url: str | None) -> None:
    """Act once on every deadline due: send reminders, fire automatic steps, escalate the overdue."""
    settings = load_settings(database_url)
    now = parse_moment(moment, settings) if moment else utcnow()
    bootstrap(settings)
    with connected(settings) as engine:
        require_current_schema(engine)
        use_database(engine)  # mail for the notifications goes out after each batch's commit
        report = scan_deadlines(make_session_factory(engine), now)
    click.echo(f"deadlines due by {now.astimezone(settings.timezone):%Y-%m-%d %H:%M}: {report.reminders} reminders, "
               f"{len(report.transitions)} automatic steps, {report.escalations} escalations, "
               f"{report.notifications} notifications")
    for case_id, trigger in report.transitions:
        click.echo(f"case {case_id}: {trigger}")
    for case_id, trigger, reason in report.refused:
        click.echo(f"case {case_id}: {trigger} refused ({reason}), escalated")


def parse_moment(text: str, settings: Settings) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date and time such as 2026-05-10T00:00", param_hint="--now") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=settings.timezone)


def main() -> None:
    cli(prog_name="unionflow")
