"""names unique as people read them: a folded form beside each name, unique

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:30:00.000000

Experiments, registered models, datasets and users get the folded form of their name
(app.names.fold_name: NFKC, case-folded, surrounding spaces removed) in a column of its own,
with the unique constraint; the names stay as they were given. Existing rows are backfilled;
when two of them fold to the same name the upgrade stops, changing nothing, and names them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.names import MAX_FOLDED_NAME_BYTES, fold_name

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, name column, folded column)
FOLDED = (
    ("experiment", "name", "folded_name"),
    ("registered_model", "name", "folded_name"),
    ("dataset", "name", "folded_name"),
    ("user", "username", "folded_username"),
)


def _table(table: str, name: str, folded: str) -> sa.TableClause:
    return sa.table(table, sa.column("id", sa.Integer), sa.column(name, sa.String), sa.column(folded, sa.String))


def _collisions(rows: Sequence[sa.Row]) -> list[str]:
    first: dict[str, str] = {}
    found = []
    for _, name in rows:
        key = fold_name(name)
        if key in first:
            found.append(f"{first[key]!r} and {name!r}")
        else:
            first[key] = name
    return found


def upgrade() -> None:
    bind = op.get_bind()
    existing = {}
    # Every table is checked before any is changed, so a refused upgrade leaves the schema as it was.
    for table, name, folded in FOLDED:
        values = _table(table, name, folded)
        rows = bind.execute(sa.select(values.c.id, values.c[name]).order_by(values.c.id)).all()
        collisions = _collisions(rows)
        if collisions:
            raise RuntimeError(
                f"{table}: {'; '.join(collisions)} differ only in case, Unicode form or surrounding spaces, "
                f"and are now the same name. Rename one of each pair ({table}.{name}) and upgrade again."
            )
        existing[table] = rows
    # Plain ALTER TABLE ADD COLUMN and CREATE UNIQUE INDEX, no batch copy: on SQLite a copy drops
    # the old table, and with foreign keys on that deletes the runs, versions and tokens under it.
    for table, name, folded in FOLDED:
        # NOT NULL needs a default on SQLite for the rows already there; every row gets its value next.
        op.add_column(
            table, sa.Column(folded, sa.String(length=MAX_FOLDED_NAME_BYTES), nullable=False, server_default="")
        )
        values = _table(table, name, folded)
        if existing[table]:
            bind.execute(
                values.update().where(values.c.id == sa.bindparam("row_id")).values({folded: sa.bindparam("folded")}),
                [{"row_id": row_id, "folded": fold_name(value)} for row_id, value in existing[table]],
            )
        if bind.dialect.name != "sqlite":  # SQLite cannot drop a default without copying the table
            op.alter_column(table, folded, server_default=None)
        op.create_index(op.f(f"ix_{table}_{folded}"), table, [folded], unique=True)


def downgrade() -> None:
    for table, _, folded in reversed(FOLDED):
        op.drop_index(op.f(f"ix_{table}_{folded}"), table_name=table)
        op.drop_column(table, folded)
