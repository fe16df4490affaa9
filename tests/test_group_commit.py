"""Group commit: concurrent inserts share a commit, each caller gets its own answer, a failure reaches its batch;
on both stores (the PostgreSQL half needs SLACLOCK_TEST_POSTGRES_URL, see tests/postgres_support.py)."""
import threading
from datetime import datetime, timezone

import psycopg
import pytest

from store import Store, StoreError
from store.group_commit import GroupCommit
from store.postgres import Store as PostgresStore


def _blocking_committer():
    """A commit_batch that holds its first batch until released, recording every batch it ran."""
    batches, first_started, release = [], threading.Event(), threading.Event()

    def commit_batch(items):
        batches.append(list(items))
        if len(batches) == 1:
            first_started.set()
            release.wait(10)
        if "boom" in items:
            raise RuntimeError("disk full")
        return [f"stored {item}" for item in items]

    return commit_batch, batches, first_started, release


def _submit_all(group, items):
    results, threads = {}, []
    for item in items:
        def run(item=item):
            try:
                results[item] = group.submit(item)
            except RuntimeError as e:
                results[item] = f"error: {e}"
        threads.append(threading.Thread(target=run))
        threads[-1].start()
    return results, threads


def test_inserts_that_arrive_during_a_commit_share_the_next_one():
    commit_batch, batches, first_started, release = _blocking_committer()
    group = GroupCommit(commit_batch)
    results, threads = _submit_all(group, ["a"])
    assert first_started.wait(10)
    more, more_threads = _submit_all(group, ["b", "c", "d"])
    while len(group._queue) < 3:  # the three wait behind the commit in flight
        threading.Event().wait(0.001)
    release.set()
    for t in threads + more_threads:
        t.join(10)
    assert len(batches) == 2 and batches[0] == ["a"] and sorted(batches[1]) == ["b", "c", "d"]
    assert {**results, **more} == {"a": "stored a", "b": "stored b", "c": "stored c", "d": "stored d"}


def test_a_failed_commit_fails_every_caller_in_its_batch_and_only_them():
    commit_batch, batches, first_started, release = _blocking_committer()
    group = GroupCommit(commit_batch)
    results, threads = _submit_all(group, ["a"])
    assert first_started.wait(10)
    more, more_threads = _submit_all(group, ["boom", "e"])
    while len(group._queue) < 2:
        threading.Event().wait(0.001)
    release.set()
    for t in threads + more_threads:
        t.join(10)
    assert results == {"a": "stored a"}
    assert more == {"boom": "error: disk full", "e": "error: disk full"}
    assert group.submit("f") == "stored f"  # the next caller leads a fresh commit


@pytest.fixture(params=["sqlite", "postgres"])
def grouping_store(request, tmp_path):
    """Each store whose deliveries go through the group commit (PostgreSQL's by default)."""
    if request.param == "sqlite":
        yield Store(tmp_path / "s.db")
        return
    store = PostgresStore(request.getfixturevalue("postgres_url"))
    yield store
    store.close()


def _add(store, key):
    return store.add_delivery(connector="zendesk", delivery_key=key, event_type="ticket.created", ticket_id="1",
                              actor_id=None, headers={}, body=b"{}", received_at=datetime.now(timezone.utc))


def test_many_threads_store_every_delivery_once_and_learn_which_were_duplicates(grouping_store):
    store = grouping_store
    keys = [f"k{n % 150}" for n in range(300)]  # every key twice
    answers, lock = [], threading.Lock()

    def post(key):
        inserted = _add(store, key)
        with lock:
            answers.append((key, inserted))

    threads = [threading.Thread(target=post, args=(key,)) for key in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(answers) == 300
    assert sorted(k for k, inserted in answers if inserted) == sorted({*keys})
    assert store.db.execute("select count(*) from inbox").fetchone()[0] == 150


def test_a_store_that_cannot_write_is_a_store_error(grouping_store):
    store = grouping_store
    store.db.execute("drop table inbox")
    with pytest.raises(StoreError, match="cannot store delivery"):
        _add(store, "k")


def _row(key):
    return ["zendesk", key, "ticket.created", "1", None, "2026-01-01T00:00:00+00:00", "{}", b"{}"]


def test_one_batch_tells_new_keys_from_keys_stored_before_and_from_a_key_sent_twice(any_store):
    store = any_store
    assert store._insert_deliveries([_row("old")]) == [True]
    assert store._insert_deliveries([_row("a"), _row("old"), _row("b"), _row("a")]) == [True, False, True, False]
    assert store._insert_deliveries([_row("old"), _row("b")]) == [False, False]
    assert sorted(k for (k,) in store.db.execute("select delivery_key from inbox")) == ["a", "b", "old"]


def test_a_batch_is_at_most_max_batch_items_and_the_rest_follow_in_order():
    commit_batch, batches, first_started, release = _blocking_committer()
    group = GroupCommit(commit_batch, max_batch=2)
    results, threads = _submit_all(group, ["a"])
    assert first_started.wait(10)
    answers, more_threads = [results], []
    for item in "bcde":  # queued one by one, so the queue's order is known
        r, t = _submit_all(group, [item])
        answers.append(r)
        more_threads += t
        while len(group._queue) < "bcde".index(item) + 1:
            threading.Event().wait(0.001)
    release.set()
    for t in threads + more_threads:
        t.join(10)
    results = {k: v for r in answers for k, v in r.items()}
    assert batches == [["a"], ["b", "c"], ["d", "e"]]
    assert results == {item: f"stored {item}" for item in "abcde"}


def test_an_idle_committer_ends_and_the_next_submit_starts_another(monkeypatch):
    import store.group_commit as module
    monkeypatch.setattr(module, "IDLE_SECONDS", 0.01)
    group = GroupCommit(lambda items: [f"stored {item}" for item in items])
    before = set(threading.enumerate())
    assert group.submit("a") == "stored a"
    [first] = [t for t in threading.enumerate() if t not in before and t.name == "group-commit"]
    first.join(5)
    assert not first.is_alive() and group._committer is None
    assert group.submit("b") == "stored b"


def test_close_commits_what_is_queued_ends_the_committer_and_a_later_submit_starts_another():
    commit_batch, batches, first_started, release = _blocking_committer()
    group = GroupCommit(commit_batch)
    results, threads = _submit_all(group, ["a"])
    assert first_started.wait(10)
    more, more_threads = _submit_all(group, ["b"])
    while len(group._queue) < 1:
        threading.Event().wait(0.001)
    committer = group._committer[2]
    closing = threading.Thread(target=group.close)
    closing.start()
    release.set()
    closing.join(10)
    assert not closing.is_alive() and not committer.is_alive() and group._committer is None
    for t in threads + more_threads:
        t.join(10)
    assert {**results, **more} == {"a": "stored a", "b": "stored b"}
    assert group.submit("c") == "stored c" and group._committer[2] is not committer
    group.close()


def test_a_store_closed_has_no_committer_left(grouping_store):
    assert _add(grouping_store, "k") is True
    committer = grouping_store._deliveries._committer[2]
    grouping_store.close()
    assert not committer.is_alive()
    assert _add(grouping_store, "k") is False  # opened again on use, and the key is still known


# --- PostgreSQL: one statement and one commit per batch ------------------------------------------------

HELD = ("insert into inbox (connector, delivery_key, event_type, ticket_id, received_at, headers_json, body, status, "
        "attempts) values ('zendesk', 'held', 'ticket.created', '1', '2026-01-01T00:00:00+00:00', '{}', ''::bytea, "
        "'pending', 0)")


def _wait_for_queue(store, length):
    """Until the committer has taken what came before and `length` deliveries wait behind its batch."""
    while len(store._deliveries._queue) != length:
        threading.Event().wait(0.001)


def _add_all(store, keys):
    results, threads = {}, []
    for n, key in enumerate(keys):
        def run(n=n, key=key):
            try:
                results[n] = _add(store, key)
            except StoreError as e:
                results[n] = e
        threads.append(threading.Thread(target=run))
        threads[-1].start()
    return results, threads


def test_deliveries_that_arrive_during_a_postgresql_commit_share_the_next_one(postgres_url):
    store = PostgresStore(postgres_url)
    with psycopg.connect(postgres_url) as other:
        other.execute(HELD)  # not committed: the store's insert of the same key waits for this transaction
        first, first_threads = _add_all(store, ["held"])
        _wait_for_queue(store, 0)
        later, later_threads = _add_all(store, ["a", "b", "held", "a"])
        _wait_for_queue(store, 4)
    for t in first_threads + later_threads:  # `other` committed: its row makes the store's "held" a duplicate
        t.join(30)
    assert first == {0: False}
    assert later[2] is False and sorted([later[0], later[1], later[3]]) == [False, True, True]
    commits = dict(store.db.execute("select delivery_key, xmin::text from inbox"))
    assert sorted(commits) == ["a", "b", "held"]
    assert commits["a"] == commits["b"] != commits["held"]  # one transaction stored both
    store.close()


def test_a_failed_postgresql_batch_fails_each_of_its_deliveries_and_stores_none(postgres_url):
    store = PostgresStore(postgres_url, busy_timeout=1)
    with psycopg.connect(postgres_url) as other:
        other.execute("lock table inbox in exclusive mode")  # inserts wait, and give up after busy_timeout
        first, first_threads = _add_all(store, ["a"])
        _wait_for_queue(store, 0)
        later, later_threads = _add_all(store, ["b", "c"])
        _wait_for_queue(store, 2)
        for t in first_threads + later_threads:
            t.join(30)
    for error in [first[0], later[0], later[1]]:
        assert isinstance(error, StoreError) and "cannot store delivery" in str(error) and "lock timeout" in str(error)
    assert store.delivery_counts() == {}
    assert _add(store, "b") is True  # the next batch, on a fresh connection
    store.close()


@pytest.mark.parametrize("group_commit", [True, False])
def test_a_delivery_postgresql_text_cannot_hold_is_a_store_error_of_its_own(postgres_url, group_commit):
    store = PostgresStore(postgres_url, group_commit=group_commit)
    with pytest.raises(StoreError, match="NUL character"):
        _add(store, "bad\0key")
    assert _add(store, "good") is True and _add(store, "good") is False
    store.close()


def test_without_group_commit_each_postgresql_delivery_commits_on_its_own(postgres_url):
    store = PostgresStore(postgres_url, group_commit=False)
    results, threads = _add_all(store, ["a", "b", "a"])
    for t in threads:
        t.join(30)
    assert sorted(results.values()) == [False, True, True] and store._deliveries is None
    commits = dict(store.db.execute("select delivery_key, xmin::text from inbox"))
    assert sorted(commits) == ["a", "b"] and commits["a"] != commits["b"]
    store.close()
