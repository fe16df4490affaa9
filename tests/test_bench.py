"""The benchmarks' own honesty: every script bench/all.py runs parses its arguments and measures, a failed
precondition is an error with its reason, and the table never shows a failed run as a figure."""
import importlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import all as bench_all  # noqa: E402
from bench import scale  # noqa: E402
from bench.figures import BenchError, Figure, require  # noqa: E402
from tests.postgres_support import server_url  # noqa: E402


@pytest.mark.parametrize("name, full, quick", bench_all.BENCHMARKS, ids=[b[0] for b in bench_all.BENCHMARKS])
def test_every_benchmark_takes_its_full_and_quick_arguments(name, full, quick):
    module = importlib.import_module(f"bench.{name}")
    assert callable(module.measure)
    module.parser().parse_args(full)
    module.parser().parse_args(quick)


def test_a_precondition_that_fails_is_an_error_naming_it():
    require(True, "never raised")
    with pytest.raises(BenchError, match="the storm began before its baseline"):
        require(False, "the storm began before its baseline")


def test_the_table_shows_a_failed_run_as_failed_and_each_figure_against_its_goal():
    results = [("sweep", [], "the storm spent no API calls: nothing was measured"),
               ("ingest", [Figure("ingest throughput vs bare Flask", "900 vs 1,000 req/s", "≥ 0.9×", True, "0.90×"),
                           Figure("ingest p99 vs bare Flask", "30 vs 10 ms", "≤ 2.0×", False, "3.00×")], None)]
    rows = bench_all.table(results)
    assert rows[2] == ("| bench/sweep.py | — | **the run proved nothing:** the storm spent no API calls: nothing "
                       "was measured | | FAILED |")
    assert rows[3] == "| ingest throughput vs bare Flask | ≥ 0.9× | 900 vs 1,000 req/s | 0.90× | met |"
    assert rows[4] == "| ingest p99 vs bare Flask | ≤ 2.0× | 30 vs 10 ms | 3.00× | **not met** |"


def test_every_figure_the_benchmarks_name_has_a_meaning_in_benchmarks_md():
    names = ["ingest throughput vs bare Flask", "ingest p99 vs bare Flask", "worker, burst of 10,000",
             "decide(), normal", "sweep cost, 100,000 vs 1,000 open", "detection, 100,000 open (worst)",
             "memory of serve, 100,000 stored", "memory of worker, 100,000 stored",
             "storm of 1,000: Zendesk write calls", "API calls per lifecycle, jira", "reaction, webhook → write-back", "API calls per routed ticket",
             "SLA clock, 1 hour of business time", "scale: 2 workers vs 1, PostgreSQL",
             "scale: 1 worker, PostgreSQL vs SQLite", "scale: ingest, 2 receivers vs 1, PostgreSQL",
             "simulate replay", "outcome: breach rate, slaclock vs none"]
    assert [n for n in names if not any(n.startswith(key) for key in bench_all.MEANING)] == []


def test_scale_a_tiny_run_gives_each_ratio_against_its_goal():
    server_url()  # the PostgreSQL half: skipped in a plain clone, failed in CI without a server
    figures = scale.measure(scale.parser().parse_args(["--events", "300", "--seconds", "1", "--bodies", "20000"]))

    assert [f.name for f in figures] == ["scale: 2 workers vs 1, PostgreSQL", "scale: 1 worker, PostgreSQL vs SQLite",
                                         "scale: ingest, 2 receivers vs 1, PostgreSQL"]
    assert [f.goal for f in figures] == ["≥ 1.5×", "≥ 0.5×", "≥ 1.5×"]
    for f in figures:
        assert f.met is (float(f.ratio.removesuffix("×")) >= float(f.goal.strip("≥ ×"))), f
        assert " vs " in f.measured and not f.measured.startswith("0 "), f


def test_scale_fails_loudly_when_a_run_drained_nothing():
    server_url()
    with pytest.raises(BenchError, match="nothing was written: the run measured no pipeline"):
        scale.measure(scale.parser().parse_args(["--events", "0"]))


def test_scale_refuses_a_ratio_of_a_run_that_measured_nothing():
    busy = Figure("worker, burst of 20", "50 deliveries/s", "≥ 200 /s", False, "1.0× before", 50.0)
    idle = Figure("worker, burst of 20", "0 deliveries/s", "≥ 200 /s", False, "0.0× before", 0.0)
    assert scale.ratio("x", busy, busy, "deliveries/s", 1.5).ratio == "1.00×"
    with pytest.raises(BenchError, match="x: a run measured nothing"):
        scale.ratio("x", busy, idle, "deliveries/s", 1.5)
