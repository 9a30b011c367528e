"""The ``unionflow`` command: database schema, definitions, demo data, audit checks, the demo server.

Every command reads the deployment settings from the environment (see engine.config);
``--db URL`` points one command at another database. Domain errors end the command
with their message and exit status 1, never a traceback.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import click
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from engine import bootstrap, load_models
from engine.audit import verify_database
from engine.config import Settings, normalize_database_url
from engine.db import make_engine, make_session_factory
from engine.definitions import read_definition_files, sync_definitions
from engine.errors import DefinitionError, UnionflowError
from engine.migrate import alembic_config, upgrade
from engine.rules import load_rule_modules


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
    from web.demo import DEMO_PASSWORD, seed_demo_cases, seed_demo_org

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
            cases = seed_demo_cases(session)
            session.commit()
        click.echo(f"demo cases: {cases} created" if cases else "demo cases: already present")
    click.echo(f"demo password for every account: {DEMO_PASSWORD}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, type=int, show_default=True)
@database_option
def run(host: str, port: int, database_url: str | None) -> None:
    """Serve the demo with Flask's development server (demo accounts shown on the home page)."""
    from web import create_app

    app = create_app(load_settings(database_url), DEMO=True)
    require_current_schema(app.extensions["unionflow"].engine)
    click.echo(f"unionflow demo on http://{host}:{port}/")
    app.run(host=host, port=port, debug=False, use_reloader=False)


@cli.group()
def audit() -> None:
    """The hash-chained audit trail."""


@audit.command("verify")
@database_option
def audit_verify(database_url: str | None) -> None:
    """Recompute every case's audit chain and the case ledger; exit 1 on any problem."""
    settings = load_settings(database_url)
    with connected(settings) as engine:
        require_current_schema(engine)
        report = verify_database(engine)
    click.echo(f"checked {report.cases_checked} cases and {report.events_checked} audit events "
               f"in {shown_url(settings.database_url)}")
    for problem in report.problems:
        click.echo(f"problem: {problem}")
    if not report.ok:
        click.echo(f"{len(report.problems)} problem(s) found")
        raise click.exceptions.Exit(1)
    click.echo("audit trail intact")


def main() -> None:
    cli(prog_name="unionflow")
