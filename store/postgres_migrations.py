"""The PostgreSQL schema, as versioned migrations applied in order and recorded in `schema_migrations`.

Names follow the SQLite migrations (store/migrations.py) one for one, so both stores are at the same version
under the same name. Columns keep SQLite's types: instants are ISO 8601 UTC text and JSON is text (cast to
jsonb where a query looks inside), so both stores hand out the same rows. `apply` holds an advisory lock:
two processes that start together migrate once.
"""
from __future__ import annotations

import psycopg

# The advisory lock key of the migrations (any constant; one per application sharing a database).
MIGRATION_LOCK = 0x51AC_10CC

MIGRATIONS: list[tuple[str, str]] = [
    ("m001_initial", """
        create table inbox (
            id bigserial primary key, connector text not null, delivery_key text not null, event_type text,
            ticket_id text, actor_id text, received_at text not null, headers_json text, body bytea,
            status text not null, attempts integer not null default 0, claimed_at text, processed_at text,
            error text);
        create unique index inbox_delivery_key on inbox (delivery_key);
        create index inbox_status_id on inbox (status, id);
        create table tickets (
            connector text not null, ticket_id text not null, memory_json text, snapshot_json text,
            priority text, team text, due_at text, rules_version text, decided_at text,
            primary key (connector, ticket_id));
        create table timeline (
            id bigserial primary key, connector text not null, ticket_id text not null, at text not null,
            kind text not null, summary text, detail_json text);
        create index timeline_ticket on timeline (connector, ticket_id, id);
        create table outbox (
            id bigserial primary key, idem_key text not null, connector text not null, ticket_id text not null,
            kind text not null, payload_json text not null, status text not null,
            attempts integer not null default 0, created_at text, next_attempt_at text, done_at text,
            last_error text);
        create unique index outbox_idem_key on outbox (idem_key);
        create index outbox_status_next on outbox (status, next_attempt_at);
        create index outbox_ticket_status on outbox (connector, ticket_id, status);
    """),
    ("m002_sweeper", """
        alter table tickets add column next_action_at text, add column seen_updated_at text;
        create index tickets_next_action_at on tickets (next_action_at);
        create table leases (name text primary key, holder text, expires_at text);
        create table cursors (name text primary key, value text, updated_at text);
    """),
    ("m003_people", """
        create table vendor_tokens (token_hash text primary key, vendor text, created_at text);
        create index vendor_tokens_vendor on vendor_tokens (vendor);
        create table clusters (key text primary key, connector text, problem_id text, subject text,
                               members_json text, created_at text, updated_at text);
    """),
    ("m004_outbox_cluster", "alter table outbox add column cluster_key text;"),
    ("m005_outbox_progress", """
        alter table outbox add column progress_json text not null default '{}';
        create index inbox_ticket_status on inbox (connector, ticket_id, status);
    """),
    ("m006_admin_tokens", """
        create table admin_tokens (id bigserial primary key, token_hash text not null, name text not null,
                                   role text not null, created_at text not null);
        create unique index admin_tokens_hash on admin_tokens (token_hash);
        create index admin_tokens_name on admin_tokens (name);
    """),
    ("m007_review_tasks", """
        create table review_tasks (connector text not null, task_id text not null, ticket_id text not null,
                                   created_at text not null, root_cause text, recorded_at text,
                                   primary key (connector, task_id));
    """),
    ("m008_next_action", "alter table tickets add column next_action text;"),
]


def apply(conn: psycopg.Connection) -> list[str]:
    """Apply the migrations `conn`'s database lacks, each in its own transaction; return the names applied."""
    applied: list[str] = []
    conn.execute("select pg_advisory_lock(%s)", [MIGRATION_LOCK])
    try:
        conn.execute("create table if not exists schema_migrations (name text primary key, applied_at timestamptz "
                     "not null default now())")
        done = {row[0] for row in conn.execute("select name from schema_migrations")}
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            with conn.transaction():
                conn.execute(sql)
                conn.execute("insert into schema_migrations (name) values (%s)", [name])
            applied.append(name)
    finally:
        conn.execute("select pg_advisory_unlock(%s)", [MIGRATION_LOCK])
    return applied


def applied(conn: psycopg.Connection) -> list[str]:
    """The names of the migrations the database has, in the order they were applied."""
    return [row[0] for row in conn.execute("select name from schema_migrations order by applied_at, name")]
