"""The approval benchmark's peer: SpiffWorkflow running the same review chain as BPMN, stateless.

bench/approval3.bpmn is the township → county → city chain as three user tasks in a row. Each
workflow lives as one row of ``peer_workflows``: the whole workflow serialized by
BpmnWorkflowSerializer, as a web application built on SpiffWorkflow keeps it between requests.
One approval is what such a request does, in one transaction: read the row, deserialize the
workflow, complete its ready user task, serialize it, UPDATE the row (guarded by its version) +
INSERT one ``peer_audit`` row + COMMIT.

SpiffWorkflow is a benchmark-only extra (``pip install -e '.[bench]'``): without it this module
still imports, and ``UNAVAILABLE`` says why the peer cannot run.
"""
from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

from sqlalchemy import (
    Column, ForeignKey, Integer, MetaData, String, Table, Text, UniqueConstraint, func, insert, select, update,
)
from sqlalchemy.engine import Engine

from engine.base.db import UTCDateTime, utcnow

try:
    from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.spiff.parser.process import BpmnValidator, SpiffBpmnParser
    from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
    from SpiffWorkflow.util.task import TaskState
except ImportError as err:  # the bench runs without its peer rather than not at all
    UNAVAILABLE: str | None = f"SpiffWorkflow is not importable ({err})"
else:
    UNAVAILABLE = None

BPMN_FILE = Path(__file__).resolve().parent / "approval3.bpmn"
PROCESS_ID = "review_chain"
# The user tasks in the order the approvals complete them: the engine's states for the same steps.
TASKS = ("township_review", "county_review", "city_review")

PEER_METADATA = MetaData()
peer_workflows = Table(
    "peer_workflows", PEER_METADATA,
    Column("id", Integer, primary_key=True),
    Column("state", Text, nullable=False),  # BpmnWorkflowSerializer's JSON of the whole workflow
    Column("version", Integer, nullable=False),
    Column("updated_dt", UTCDateTime, nullable=False),
)
peer_audit = Table(
    "peer_audit", PEER_METADATA,
    Column("id", Integer, primary_key=True),
    Column("workflow_id", ForeignKey("peer_workflows.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("action", String(63), nullable=False),
    Column("task", String(63), nullable=False),
    Column("actor_name", String(64), nullable=False),
    Column("occurred_dt", UTCDateTime, nullable=False),
    UniqueConstraint("workflow_id", "seq"),
)


def spiff_version() -> str:
    return "SpiffWorkflow " + version("SpiffWorkflow")


class SpiffPeer:
    """The peer on one database: its tables, its parsed process and its serializer."""

    def __init__(self, engine: Engine):
        if UNAVAILABLE:
            raise RuntimeError(UNAVAILABLE)
        self.engine = engine
        parser = SpiffBpmnParser(validator=BpmnValidator())
        parser.add_bpmn_file(str(BPMN_FILE))
        self.spec = parser.get_spec(PROCESS_ID)
        self.serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
        PEER_METADATA.drop_all(engine)
        PEER_METADATA.create_all(engine)

    def new_workflows(self, count: int) -> list[int]:
        """``count`` workflows started and stored, each waiting at the township (setup, not timed)."""
        now = utcnow()
        with self.engine.begin() as conn:
            first = (conn.scalar(select(func.max(peer_workflows.c.id))) or 0) + 1
            ids = list(range(first, first + count))
            conn.execute(insert(peer_workflows), [
                {"id": i, "state": self.serializer.serialize_json(self._started()), "version": 1, "updated_dt": now}
                for i in ids
            ])
        return ids

    def _started(self) -> BpmnWorkflow:
        workflow = BpmnWorkflow(self.spec)
        workflow.do_engine_steps()
        return workflow

    def approve(self, workflow_id: int, step: int, actor_name: str) -> None:
        """One approval as a stateless request runs it: nothing of the workflow is kept between calls."""
        with self.engine.begin() as conn:
            row = conn.execute(
                select(peer_workflows.c.state, peer_workflows.c.version).where(peer_workflows.c.id == workflow_id)
            ).one()
            workflow = self.serializer.deserialize_json(row.state)
            self._complete(workflow, TASKS[step], actor_name)
            now = utcnow()
            updated = conn.execute(
                update(peer_workflows)
                .where(peer_workflows.c.id == workflow_id, peer_workflows.c.version == row.version)
                .values(state=self.serializer.serialize_json(workflow), version=row.version + 1, updated_dt=now)
            )
            if updated.rowcount != 1:
                raise RuntimeError(f"peer workflow {workflow_id} changed under approval {step + 1}")
            conn.execute(insert(peer_audit).values(
                workflow_id=workflow_id, seq=row.version + 1, action="approve", task=TASKS[step],
                actor_name=actor_name, occurred_dt=now,
            ))

    @staticmethod
    def _complete(workflow: BpmnWorkflow, task_name: str, actor_name: str) -> None:
        """Complete the ready user task, which must be ``task_name``, and run on to the next one."""
        task = workflow.get_next_task(state=TaskState.READY, manual=True)
        if task is None or task.task_spec.name != task_name:
            raise RuntimeError(f"peer workflow expected ready {task_name}, found {task}")
        task.set_data(decision="approved", reviewer=actor_name)
        task.run()
        workflow.do_engine_steps()

    def check(self, workflow_ids: list[int]) -> str | None:
        """What is wrong with the approvals done on ``workflow_ids``, if anything."""
        with self.engine.connect() as conn:
            states = conn.scalars(select(peer_workflows.c.state).where(peer_workflows.c.id.in_(workflow_ids))).all()
            audits = conn.scalar(select(func.count()).select_from(peer_audit)
                                 .where(peer_audit.c.workflow_id.in_(workflow_ids)))
        unfinished = sum(not self.serializer.deserialize_json(state).is_completed() for state in states)
        if len(states) != len(workflow_ids) or unfinished:
            return f"{unfinished} of {len(workflow_ids)} peer workflows not completed"
        if audits != len(TASKS) * len(workflow_ids):
            return f"{audits} peer audit rows for {len(workflow_ids)} workflows"
        return None
