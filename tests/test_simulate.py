"""`slaclock simulate --rules`: the demo's stored history replayed through the current and a changed rules file."""
from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

import jobs.demo
from app import main
from connectors.model import Ticket
from rules import load_rules
from simulate.history import ticket_histories
from simulate.replay import horizon, merged, replay
from store import open_store

OPENED = datetime(2026, 12, 1, 9, tzinfo=UTC)


def _changed(text: str) -> str:
    """The demo's rules with wrong items routed to Support and no proactive customer updates."""
    for old, new in (('wrong_item = "warehouse"', 'wrong_item = "support"'),
                     ("[customer_updates]\nenabled = true", "[customer_updates]\nenabled = false")):
        assert old in text, old
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo run once into a database of the module's own: (database, its rules file, a changed rules file)."""
    workdir = tmp_path_factory.mktemp("simulate")
    database = workdir / "demo.db"

    class KeptStack(jobs.demo.Stack):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "database": str(database)})

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jobs.demo, "Stack", KeptStack)
        out = io.StringIO()
        assert jobs.demo.run_demo(out) == 0, out.getvalue()[-3000:]
    current = jobs.demo.demo_rules(workdir)
    changed = workdir / "changed.toml"
    changed.write_text(_changed(current.read_text(encoding="utf-8")), encoding="utf-8")
    return database, current, changed


@pytest.fixture
def cli(demo, monkeypatch, tmp_path):
    database, current, _ = demo
    monkeypatch.setenv("SLACLOCK_ENV_FILE", str(tmp_path / "none.env"))
    monkeypatch.setenv("SLACLOCK_DATABASE", str(database))
    monkeypatch.setenv("SLACLOCK_RULES", str(current))
    return main


def test_a_changed_rules_file_prints_a_non_empty_diff(demo, cli, capsys):
    _, _, changed = demo
    assert cli(["simulate", "--rules", str(changed)]) == 0
    text = capsys.readouterr().out
    assert "15 ticket histories replayed" in text, text
    routing = text.splitlines()[text.splitlines().index(next(l for l in text.splitlines() if "routing" in l)):]
    assert routing[0].split()[1:3] == ["2", "tickets"], text  # the wrong-item case on each helpdesk
    assert "Warehouse → Support" in routing[1] and "Warehouse → Support" in routing[2], text
    sent = next(line for line in text.splitlines() if line.strip().startswith("customer messages sent"))
    current, new = map(int, sent.split()[-2:])
    assert new < current, sent  # the proactive updates to escalated customers are gone


def test_json_names_each_change_with_example_tickets(demo, cli, capsys):
    _, _, changed = demo
    assert cli(["simulate", "--rules", str(changed), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["histories"] == 15 and 0 < data["decisions_changed"] <= data["decisions"]
    assert sorted(e["ticket"] for e in data["changes"]["routing"]["examples"]) == ["jira:SD-2", "zendesk:2"]
    assert data["changes"]["customer messages"]["tickets"] >= 1
    kpis = data["kpis"]
    assert kpis["current"]["tickets"] == kpis["new"]["tickets"] == 15
    assert kpis["current"]["escalations_per_1000"] > 0 and kpis["new"]["customer_messages"] < kpis["current"]["customer_messages"]


def test_the_same_rules_change_nothing(demo, cli, capsys):
    _, current, _ = demo
    assert cli(["simulate", "--rules", str(current), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["decisions_changed"] == 0 and all(c["tickets"] == 0 for c in data["changes"].values())
    assert data["kpis"]["current"] == data["kpis"]["new"]


def test_replays_spread_over_processes_print_what_one_process_prints(demo, cli, capsys, monkeypatch):
    import simulate.pool

    _, _, changed = demo
    assert cli(["simulate", "--rules", str(changed), "--format", "json", "--jobs", "1"]) == 0
    alone = capsys.readouterr().out
    monkeypatch.setattr(simulate.pool, "PARALLEL_FROM", 1)  # the demo's 15 histories, on a pool of 2
    monkeypatch.setattr(simulate.pool, "CHUNK", 2)
    pools = []
    context = simulate.pool.multiprocessing.get_context
    monkeypatch.setattr(simulate.pool.multiprocessing, "get_context", lambda kind: pools.append(kind) or context(kind))
    assert cli(["simulate", "--rules", str(changed), "--format", "json", "--jobs", "2"]) == 0
    assert pools == ["forkserver"]
    assert capsys.readouterr().out == alone and json.loads(alone)["decisions_changed"] > 0


def test_a_number_of_processes_out_of_range_is_refused(cli, demo, capsys):
    _, _, changed = demo
    with pytest.raises(SystemExit) as exit:
        cli(["simulate", "--rules", str(changed), "--jobs", "0"])
    assert exit.value.code == 2 and "--jobs: expected a number from 1 to 256, got '0'" in capsys.readouterr().err


def test_the_replay_reproduces_what_the_demo_recorded(demo):
    database, current, _ = demo
    store = open_store(str(database))
    histories, rules = ticket_histories(store), load_rules(current)
    until = horizon(histories, max(s.at for h in histories for s in h.steps))
    cases = {f"{c.connector}:{c.ticket_id}": c for c in store.cases()}
    for history in histories:
        outcome, case = replay(history, rules, until), cases[history.key]
        assert (outcome.team, outcome.priority) == (case.team, case.priority), history.key
        recorded = [e.detail.get("level") for e in store.timeline(*history.key.split(":")) if e.kind == "level_change"]
        assert list(outcome.levels) == recorded, history.key


def test_a_rules_file_that_does_not_validate_is_refused_as_check_refuses_it(cli, tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.toml"
    bad.write_text('version = "x"\n[routing]\ndefault_team = 7\n', encoding="utf-8")
    monkeypatch.setenv("SLACLOCK_RULES", str(bad))
    assert cli(["check", "--offline"]) == 1
    expected = [line for line in capsys.readouterr().err.splitlines() if "bad.toml" in line or "routing" in line]
    assert expected
    assert cli(["simulate", "--rules", str(bad)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if line in expected] == expected


def test_a_persons_change_survives_and_slaclocks_own_fields_follow_the_replay():
    expected = Ticket("zendesk", "1", "open", "high", OPENED, group_id="20", tags=frozenset({"a", "slaclock_x"}))
    ours = Ticket("zendesk", "1", "open", "normal", OPENED, group_id="30", tags=frozenset({"a"}))
    # The agent raised nothing and moved nothing: the replay's own priority, group and tags stand.
    assert merged(expected, expected, ours) == ours
    # The agent set urgent and added a tag after the recorded write: both survive on the replay's ticket.
    read = Ticket("zendesk", "1", "open", "urgent", OPENED, group_id="20", tags=frozenset({"a", "slaclock_x", "vip"}))
    got = merged(read, expected, ours)
    assert (got.priority, got.group_id, got.tags) == ("urgent", "30", frozenset({"a", "vip"}))


def test_the_replay_benchmark_times_a_real_comparison_and_refuses_an_empty_one():
    from bench import simulate as bench
    from bench.figures import BenchError

    figure, = bench.measure(bench.parser().parse_args(["--tickets", "20"]))
    assert figure.name == "simulate replay" and figure.goal == "≥ 5,000 /s" and figure.measured.endswith("histories/s")
    with pytest.raises(BenchError, match="replayed 0 of 0 histories"):
        bench.measure(bench.parser().parse_args(["--tickets", "0"]))


def test_histories_read_back_through_either_store(any_store):
    from jobs.processor import heard, snapshot

    ticket = Ticket("zendesk", "7", "open", "high", OPENED, reason_code="wrong_item")
    reply = OPENED.replace(hour=10)
    with any_store.write_txn() as txn:
        for at, said in ((OPENED, {}), (reply, {"agent_reply_at": reply, "actor_id": "501"})):
            txn.add_timeline(connector="zendesk", ticket_id="7", at=at, kind="decision", summary="decided",
                             detail={"events": ["ticket.updated"], "inputs": {}, "changes": {"priority": "urgent"},
                                     "ticket": snapshot(ticket), "heard": heard(**said)})
        txn.add_timeline(connector="zendesk", ticket_id="7", at=reply, kind="no_change", summary="swept",
                         detail={"events": ["slaclock.sweep"], "inputs": {}, "changes": {}, "ticket": snapshot(ticket)})
    history, = ticket_histories(any_store)
    assert history.key == "zendesk:7" and [s.sweep for s in history.steps] == [False, False, True]
    assert history.steps[1].agent_reply_at == reply and history.steps[1].actor_id == "501"
    assert history.steps[0].written == {"priority": "urgent"} and history.steps[0].ticket == ticket
    assert ticket_histories(any_store, since=OPENED.replace(day=2)) == []
