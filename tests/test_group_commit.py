"""Group commit: concurrent inserts share a commit, each caller gets its own answer, a failure reaches its batch."""
import threading
from datetime import datetime, timezone

import pytest

from store import Store, StoreError
from store.group_commit import GroupCommit


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


def _add(store, key):
    return store.add_delivery(connector="zendesk", delivery_key=key, event_type="ticket.created", ticket_id="1",
                              actor_id=None, headers={}, body=b"{}", received_at=datetime.now(timezone.utc))


def test_many_threads_store_every_delivery_once_and_learn_which_were_duplicates(tmp_path):
    store = Store(tmp_path / "s.db")
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


def test_a_store_that_cannot_write_is_a_store_error(tmp_path):
    store = Store(tmp_path / "s.db")
    store.db.execute("drop table inbox")
    with pytest.raises(StoreError, match="cannot store delivery"):
        _add(store, "k")


def _row(key):
    return ["zendesk", key, "ticket.created", "1", None, "2026-01-01T00:00:00+00:00", "{}", b"{}"]


def test_one_batch_tells_new_keys_from_keys_stored_before_and_from_a_key_sent_twice(tmp_path):
    store = Store(tmp_path / "s.db")
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
