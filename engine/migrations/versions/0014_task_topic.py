"""tasks.topic: the body a consultation task (征求意见) waits to hear from; an index of a person's open tasks

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 01:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('tasks', sa.Column('topic', sa.String(length=63), nullable=True))
    op.create_index('ix_tasks_open_by_assignee', 'tasks', ['assignee_id', 'due_dt'],
                    postgresql_where=sa.text('closed_dt IS NULL AND assignee_id IS NOT NULL'),
                    sqlite_where=sa.text('closed_dt IS NULL AND assignee_id IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_tasks_open_by_assignee', table_name='tasks')
    with op.batch_alter_table('tasks') as batch:
        batch.drop_column('topic')
