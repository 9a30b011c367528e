"""The alembic migrations produce exactly the schema the models declare."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from engine.audit.chain import LEDGER_SHARDS, CaseLedgerHead
from engine.base.db import Base


def test_migrated_schema_matches_models(database):
    """Would autogenerate find anything to change after `upgrade head`?"""
    with database.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_migration_seeds_every_ledger_shard(session):
    assert sorted(session.scalars(select(CaseLedgerHead.shard))) == list(range(LEDGER_SHARDS))


def test_constraints_follow_the_naming_convention(database):
    inspector = inspect(database)
    checks = {c["name"] for c in inspector.get_check_constraints("cases")}
    assert "ck_cases_version_positive" in checks
    uniques = {c["name"] for c in inspector.get_unique_constraints("audit_events")}
    assert "uq_audit_events_case_id_seq" in uniques
    fks = {fk["name"] for fk in inspector.get_foreign_keys("cases")}
    assert "fk_cases_origin_unit_id_org_units" in fks
