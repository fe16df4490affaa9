"""What only the PostgreSQL store has to show: migrations when processes start together, claims shared by
workers on one database, and a clear error for a server it cannot reach. The rest of the store's behaviour
runs on both stores in tests/test_store.py and the pipeline suites."""
import os
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest

from store import Store, StoreError, open_store
from store import postgres_migrations
from store.postgres import Store as PostgresStore

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
ROOT = Path(__file__).resolve().parent.parent


def public(cls) -> set[str]:
    return {name for name in vars(cls) if not name.startswith("_")}


def test_both_stores_have_the_same_interface_and_migrations():
    """A method or migration added to one store and not the other fails here, with or without a server."""
    from store import sqlite
    from store import postgres
    from store.migrations import migrations

    assert public(sqlite.Store) <= public(postgres.Store), "methods the PostgreSQL store lacks"
    assert public(sqlite.Txn) <= public(postgres.Txn), "Txn methods the PostgreSQL store lacks"
    assert [name for name, _ in postgres_migrations.MIGRATIONS] == [m.name for m in migrations._migrations]


def test_the_url_picks_the_store(tmp_path, postgres_url):
    assert type(open_store(tmp_path / "a.db")) is Store
    assert type(open_store(postgres_url)) is PostgresStore
    assert type(open_store(postgres_url.replace("postgresql://", "postgres://", 1))) is PostgresStore


def test_the_group_commit_is_on_unless_slaclock_pg_group_commit_turns_it_off(postgres_url, monkeypatch):
    from app import boot

    monkeypatch.setenv("SLACLOCK_DATABASE", postgres_url)
    for value, on in (("", True), ("false", False), ("on", True)):
        monkeypatch.setenv("SLACLOCK_PG_GROUP_COMMIT", value)
        store = boot(dict(os.environ))[2]
        assert (store._deliveries is not None) is on
        store.close()


def test_processes_starting_together_migrate_once(postgres_databases):
    url = postgres_databases.create(migrated=False)
    opener = "import sys; from store import open_store; open_store(sys.argv[1]).close()"
    starts = [subprocess.Popen([sys.executable, "-c", opener, url], cwd=ROOT, stderr=subprocess.PIPE)
              for _ in range(4)]
    errors = [p.communicate(timeout=60)[1].decode() for p in starts]
    assert [p.returncode for p in starts] == [0] * 4, errors
    with psycopg.connect(url) as conn:
        applied = postgres_migrations.applied(conn)
    assert applied == [name for name, _ in postgres_migrations.MIGRATIONS]


def test_two_workers_share_the_inbox_and_never_hold_the_same_ticket(postgres_url):
    """Two stores on one database claim concurrently: every delivery goes to one of them, and all the claimed
    deliveries of a ticket to the same one (the claim covers the ticket)."""
    first = open_store(postgres_url)
    for ticket in range(60):
        for n in range(3):
            first.add_delivery(connector="zendesk", delivery_key=f"{ticket}-{n}", event_type="ticket.updated",
                               ticket_id=str(ticket), actor_id="7", headers={}, body=b"{}", received_at=NOW)
    workers = {"a": first, "b": open_store(postgres_url)}
    claimed: dict[str, list] = {"a": [], "b": []}
    start = threading.Barrier(2)

    def claim(name: str) -> None:
        start.wait()
        while rows := workers[name].claim_deliveries(NOW, limit=4):
            claimed[name].extend(rows)

    threads = [threading.Thread(target=claim, args=(name,)) for name in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    ids = [row.id for rows in claimed.values() for row in rows]
    assert len(ids) == len(set(ids)), "a delivery was claimed twice"
    holders: dict[str, set] = {}
    for name, rows in claimed.items():
        for row in rows:
            holders.setdefault(row.ticket_id, set()).add(name)
    assert all(len(names) == 1 for names in holders.values()), "a ticket was claimed by both workers"
    assert claimed["a"] and claimed["b"], "both workers got work"
    assert len(holders) == 60, "every ticket was claimed by someone"


def test_a_server_it_cannot_reach_is_a_store_error_without_the_password():
    with pytest.raises(StoreError) as caught:
        open_store("postgresql://slaclock:s3cret@127.0.0.1:9/slaclock", busy_timeout=1)
    assert "cannot open database postgresql://slaclock@127.0.0.1:9/slaclock" in str(caught.value)
    assert "s3cret" not in str(caught.value)
