"""`slaclock report`'s reading of the store and its three formats."""
import csv
import io
import json

from reports.history import case_histories
from reports.kpis import report, report_by
from reports.text import render
from tests.test_kpis import ESCALATED, JUNE, RATED, UNANSWERED


def saved(store, *cases):
    """The cases as the processor stores them: the case row, and each rules event as a timeline line."""
    with store.write_txn() as txn:
        for case in cases:
            connector, _, ticket_id = case.key.partition(":")
            txn.save_case(connector=connector, ticket_id=ticket_id, memory=case.memory.to_json(),
                          snapshot={"opened_at": case.opened_at.isoformat(), "reason_code": "defect"},
                          priority=case.priority, team=case.team, due_at=None, rules_version="v1",
                          decided_at=case.opened_at)
            for event in case.events:
                txn.add_timeline(connector=connector, ticket_id=ticket_id, at=event.at, kind=event.kind,
                                 summary=event.text, detail=event.to_json())
            txn.add_timeline(connector=connector, ticket_id=ticket_id, at=case.opened_at, kind="decision",
                             summary="not a rules event", detail={})
        txn.save_cluster(key="c1", connector="zendesk", members=["1"], subject="x", now=ESCALATED.opened_at)
    return store


def test_histories_read_back_what_the_kpis_need(store):
    histories = {h.key: h for h in case_histories(saved(store, ESCALATED, UNANSWERED))}
    assert histories["zendesk:1"].events == ESCALATED.events and histories["zendesk:1"].cluster == "c1"
    assert histories["zendesk:3"].memory.results == UNANSWERED.memory.results
    assert histories["zendesk:3"].reason == "defect"
    assert report(histories.values(), JUNE).to_json() == report([ESCALATED, UNANSWERED], JUNE).to_json()


def test_table_csv_and_json():
    reports = report_by([ESCALATED, UNANSWERED], JUNE, "team")
    table = render(reports, JUNE, "team", "table")
    assert table.splitlines()[0] == "Escalation KPIs, cases opened 2026-05-31 to 2026-07-01"
    header, support = table.splitlines()[1], next(line for line in table.splitlines() if line.startswith("support"))
    assert header.split()[:3] == ["team", "tickets", "escalated"] and support.split()[1:3] == ["1", "1"]
    assert "0.0%" in table and "support resolution: 1 met, 0 breached" in table
    rows = list(csv.DictReader(io.StringIO(render(reports, JUNE, "team", "csv"))))
    assert [(r["team"], r["escalated"], r["breach rate"]) for r in rows] == [("billing", "0", "0.0"),
                                                                             ("support", "1", "0.0")]
    data = json.loads(render(reports, JUNE, "team", "json"))
    assert data["by"] == "team" and data["groups"]["support"]["breaches_averted"] == 1
    assert data["groups"]["billing"]["sla"]["first_response"]["not_measured"] == 1


def test_slaclock_report_prints_the_kpis_of_the_period(tmp_path, monkeypatch, capsys):
    from app import main
    from store import Store
    monkeypatch.setenv("SLACLOCK_ENV_FILE", str(tmp_path / "none.env"))
    monkeypatch.setenv("SLACLOCK_DATABASE", str(tmp_path / "s.db"))
    monkeypatch.delenv("SLACLOCK_RULES", raising=False)
    saved(Store(tmp_path / "s.db"), ESCALATED, UNANSWERED)
    assert main(["report", "--since", "2026-06-01", "--until", "2026-07-01", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["groups"]["all"]["escalated"] == 1 and data["groups"]["all"]["breaches_averted"] == 1
    assert main(["report", "--since", "2026-06-01", "--until", "2026-07-01", "--by", "team"]) == 0
    assert "support" in capsys.readouterr().out
    assert main(["report", "--since", "2026-07-01", "--until", "2026-06-01"]) == 2
    assert "is not before" in capsys.readouterr().err


def test_slaclock_report_refuses_a_missing_database(tmp_path, monkeypatch, capsys):
    from app import main
    monkeypatch.setenv("SLACLOCK_ENV_FILE", str(tmp_path / "none.env"))
    monkeypatch.setenv("SLACLOCK_DATABASE", str(tmp_path / "absent.db"))
    assert main(["report"]) == 1
    assert "no database" in capsys.readouterr().err and not (tmp_path / "absent.db").exists()


def test_csat_reads_back_from_the_store_and_prints_per_group(store):
    # RATED: support rated 4 (after a 5), 2 and good; billing 3 and bad; one billing case unrated.
    histories = case_histories(saved(store, *RATED))
    reports = report_by(histories, JUNE, "team")
    assert reports["support"].to_json()["csat"] == report_by(RATED, JUNE, "team")["support"].to_json()["csat"]
    lines = render(reports, JUNE, "team", "table").splitlines()
    header = lines[1]
    columns = [header.index(name) for name in ("rated", "csat 1-5", "csat good")]
    cells = {line.split()[0]: [line[c:].split()[0] for c in columns] for line in lines[2:4]}
    assert cells == {"billing": ["2", "3.0", "0.0%"], "support": ["3", "3.0", "66.7%"]}
    rows = {r["team"]: r for r in csv.DictReader(io.StringIO(render(reports, JUNE, "team", "csv")))}
    assert (rows["support"]["rated"], rows["support"]["csat good"]) == ("3", "0.6667")
    data = json.loads(render(reports, JUNE, "team", "json"))
    assert data["groups"]["billing"]["csat"]["distribution"] == {"1": 0, "2": 0, "3": 1, "4": 0, "5": 0}
