"""Schema migrations, applied in order and recorded by sqlite-utils in `_sqlite_migrations`."""
from sqlite_utils import Database, Migrations

migrations = Migrations("slaclock")


@migrations()
def m001_initial(db: Database) -> None:
    db["inbox"].create({
        "id": int, "connector": str, "delivery_key": str, "event_type": str, "ticket_id": str,
        "actor_id": str, "received_at": str, "headers_json": str, "body": bytes,
        "status": str, "attempts": int, "claimed_at": str, "processed_at": str, "error": str,
    }, pk="id", not_null={"connector", "delivery_key", "received_at", "status"}, defaults={"attempts": 0})
    db["inbox"].create_index(["delivery_key"], unique=True)
    db["inbox"].create_index(["status", "id"])

    db["tickets"].create({
        "connector": str, "ticket_id": str, "memory_json": str, "snapshot_json": str,
        "priority": str, "team": str, "due_at": str, "rules_version": str, "decided_at": str,
    }, pk=("connector", "ticket_id"))

    db["timeline"].create({
        "id": int, "connector": str, "ticket_id": str, "at": str, "kind": str,
        "summary": str, "detail_json": str,
    }, pk="id", not_null={"connector", "ticket_id", "at", "kind"})
    db["timeline"].create_index(["connector", "ticket_id", "id"])

    db["outbox"].create({
        "id": int, "idem_key": str, "connector": str, "ticket_id": str, "kind": str,
        "payload_json": str, "status": str, "attempts": int, "created_at": str,
        "next_attempt_at": str, "done_at": str, "last_error": str,
    }, pk="id", not_null={"idem_key", "connector", "ticket_id", "kind", "payload_json", "status"},
        defaults={"attempts": 0})
    db["outbox"].create_index(["idem_key"], unique=True)
    db["outbox"].create_index(["status", "next_attempt_at"])
    db["outbox"].create_index(["connector", "ticket_id", "status"])


@migrations()
def m002_sweeper(db: Database) -> None:
    db["tickets"].add_column("next_action_at", str)
    db["tickets"].add_column("seen_updated_at", str)
    db["tickets"].create_index(["next_action_at"])
    db["leases"].create({"name": str, "holder": str, "expires_at": str}, pk="name")
    db["cursors"].create({"name": str, "value": str, "updated_at": str}, pk="name")


@migrations()
def m003_people(db: Database) -> None:
    # Only a token's SHA-256 is kept: tokens are 256-bit random, so a fast hash is enough.
    db["vendor_tokens"].create({"token_hash": str, "vendor": str, "created_at": str}, pk="token_hash")
    db["vendor_tokens"].create_index(["vendor"])
    db["clusters"].create({"key": str, "connector": str, "problem_id": str, "subject": str, "members_json": str,
                           "created_at": str, "updated_at": str}, pk="key")


@migrations()
def m004_outbox_cluster(db: Database) -> None:
    # A problem ticket's cluster gets its own column; rows queued before carried it in the payload.
    db["outbox"].add_column("cluster_key", str)
    db.execute("update outbox set cluster_key = json_extract(payload_json, '$.cluster'), "
               "payload_json = json_remove(payload_json, '$.cluster') "
               "where kind = 'problem' and json_extract(payload_json, '$.cluster') is not null")


@migrations()
def m005_outbox_progress(db: Database) -> None:
    # Per-step progress of a multi-call write (step name → state), so a retried row resumes where it stopped.
    db["outbox"].add_column("progress_json", str, not_null_default="{}")
    # Claims look for another worker's live claim on the same ticket.
    db["inbox"].create_index(["connector", "ticket_id", "status"])


@migrations()
def m006_admin_tokens(db: Database) -> None:
    # Dashboard sign-in tokens; like vendor tokens only the SHA-256 is kept (256-bit random: a fast hash is enough).
    db["admin_tokens"].create({"id": int, "token_hash": str, "name": str, "role": str, "created_at": str},
                              pk="id", not_null={"token_hash", "name", "role", "created_at"})
    db["admin_tokens"].create_index(["token_hash"], unique=True)
    db["admin_tokens"].create_index(["name"])


@migrations()
def m007_review_tasks(db: Database) -> None:
    # Post-incident tasks slaclock opened (seed 003 step 8): which case each reviews, and the root cause once solved.
    db["review_tasks"].create({"connector": str, "task_id": str, "ticket_id": str, "created_at": str,
                               "root_cause": str, "recorded_at": str},
                              pk=("connector", "task_id"), not_null={"connector", "task_id", "ticket_id", "created_at"})


@migrations()
def m008_next_action(db: Database) -> None:
    # What falls due at next_action_at, in words, for the at-risk queue (earlier cases have none until decided again).
    db["tickets"].add_column("next_action", str)
