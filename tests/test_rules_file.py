"""The worker's rules file, loaded again when it changes (jobs/rules_file.py): an edit takes effect without a
restart, one that does not validate is refused and the running rules stay; and end to end, a running worker
routes by the edited file and `slaclock status` shows a refused edit."""
import json
import logging
import os
import threading
from datetime import datetime, timezone

import pytest

from jobs.demo import Stack, wait_until
from jobs.rules_file import RulesFile, rules_in_use
from jobs.status import read_status, render_status
from jobs.worker import Crew, run_worker
from rules import EXAMPLE_RULES, Rules, load_rules
from store import open_store
from tests.stacks import QUEUED, assert_nothing_refused, example_rules_with, slaclock

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)
EXAMPLE = EXAMPLE_RULES.read_text(encoding="utf-8")
VERSION = 'version = "example-5"'


class Watch:
    """A RulesFile on a copy of the example rules, with its clock in the test's hands."""

    def __init__(self, tmp_path, store=None, build=lambda rules: rules):
        self.path, self.seconds = tmp_path / "rules.toml", 0.0
        self.path.write_text(EXAMPLE, encoding="utf-8")
        self.store = store or open_store(str(tmp_path / "slaclock.db"))
        self.built: list[Rules] = []

        def recorded(rules):
            self.built.append(rules)
            return build(rules)

        self.file = RulesFile(str(self.path), load_rules(self.path), recorded, self.store, check_seconds=5,
                              clock=lambda: self.seconds, now=lambda: NOW)

    def write(self, text: str) -> None:
        self.path.write_text(text, encoding="utf-8")
        stamp = os.stat(self.path).st_mtime_ns + 1_000_000_000  # later than any earlier write
        os.utime(self.path, ns=(stamp, stamp))

    def looks(self, n: int) -> list:
        """What `n` looks, one check interval apart, hand over."""
        out = []
        for _ in range(n):
            self.seconds += 5
            out.append(self.file.poll())
        return out


def test_an_edit_is_used_once_it_has_stayed_the_same_for_one_look(tmp_path, any_store):
    watch = Watch(tmp_path, any_store)
    assert watch.file.poll() is None and watch.looks(1) == [None]  # nothing changed
    watch.write(EXAMPLE.replace(VERSION, 'version = "edited-1"'))
    watch.seconds += 4.9
    assert watch.file.poll() is None  # not yet time to look

    first, second, third = watch.looks(3)

    assert first is None  # the file has just changed: an editor may still be writing it
    assert isinstance(second, Rules) and second.version == "edited-1"
    assert third is None and [r.version for r in watch.built] == ["edited-1"]
    assert watch.file.rules.version == "edited-1" and watch.file.refused is None
    assert rules_in_use(watch.store) == {"version": "edited-1", "path": str(watch.path), "refused": None,
                                         "at": NOW.isoformat()}


def test_an_edit_that_does_not_validate_is_refused_logged_once_and_the_running_rules_stay(tmp_path, any_store,
                                                                                         caplog):
    watch = Watch(tmp_path, any_store)
    watch.write(EXAMPLE.replace(VERSION, VERSION + "\nescalation_speed = 3"))

    with caplog.at_level(logging.ERROR, logger="jobs.rules_file"):
        assert watch.looks(4) == [None] * 4

    assert watch.built == [] and watch.file.rules.version == "example-5"
    refused = [r for r in caplog.records if r.getMessage() == "rules.refused"]
    assert len(refused) == 1 and refused[0].running == "example-5"
    assert "escalation_speed" in refused[0].error and "escalation_speed" in watch.file.refused
    recorded = rules_in_use(watch.store)
    assert recorded["version"] == "example-5" and "escalation_speed" in recorded["refused"]
    screen = render_status(read_status(watch.store, NOW), NOW)
    assert "rules:  example-5 from " in screen and "the file's latest edit was REFUSED" in screen
    assert "escalation_speed" in screen

    watch.write(EXAMPLE.replace(VERSION, 'version = "fixed-2"'))  # the admin fixes it
    assert [r.version if r else None for r in watch.looks(2)] == [None, "fixed-2"]
    assert watch.file.refused is None and rules_in_use(watch.store)["refused"] is None
    assert "REFUSED" not in render_status(read_status(watch.store, NOW), NOW)


def test_a_refused_edit_undone_clears_the_refusal_without_building(tmp_path):
    watch = Watch(tmp_path)
    watch.write(EXAMPLE.replace(VERSION, VERSION + "\nescalation_speed = 3"))
    assert watch.looks(2) == [None, None] and watch.file.refused

    watch.write(EXAMPLE)  # the admin puts the file back as it was
    assert watch.looks(2) == [None, None]
    assert watch.built == [] and watch.file.refused is None and rules_in_use(watch.store)["refused"] is None


def test_a_file_that_is_gone_is_refused_and_used_again_when_it_is_back(tmp_path):
    watch = Watch(tmp_path)
    watch.path.unlink()
    assert watch.looks(2) == [None, None]
    assert "cannot read rules file" in watch.file.refused and watch.file.rules.version == "example-5"

    watch.write(EXAMPLE.replace(VERSION, 'version = "back-3"'))
    assert [r.version if r else None for r in watch.looks(2)] == [None, "back-3"]


def test_a_file_saved_again_unchanged_builds_nothing(tmp_path):
    watch = Watch(tmp_path)
    watch.write(EXAMPLE + "\n# a comment\n")
    assert watch.looks(3) == [None, None, None]
    assert watch.built == [] and watch.file.refused is None


def test_parts_the_new_rules_cannot_build_refuse_the_edit(tmp_path):
    def build(rules):
        raise ValueError("ZENDESK_DUE_FIELD_ID: expected a number, got 'x'")

    watch = Watch(tmp_path, build=build)
    watch.write(EXAMPLE.replace(VERSION, 'version = "edited-1"'))
    assert watch.looks(2) == [None, None]
    assert watch.file.rules.version == "example-5" and watch.file.refused.startswith("ZENDESK_DUE_FIELD_ID")


def test_run_worker_goes_on_with_the_crew_reload_hands_over():
    stop = threading.Event()
    passes: list[str] = []

    class Part:
        def __init__(self, name):
            self.name = name

        def run_once(self):
            passes.append(self.name)
            if len(passes) >= 6:
                stop.set()
            return 1

        def release(self):
            passes.append(f"{self.name} released")

    def crew(name):
        return Crew(connectors={}, processor=Part(f"{name} processor"), deliverer=Part(f"{name} deliverer"),
                    reconciler=None, recurring=None)

    crews = iter([crew("old"), crew("new")])
    current = next(crews)

    def reload():
        nonlocal current
        if len(passes) == 2:  # the rules file changed after the first pass
            current = next(crews)
        return current

    run_worker(Part("unused"), Part("unused"), stop, poll_seconds=0.01, reload=reload)

    assert passes == ["old processor", "old deliverer", "new processor", "new deliverer",
                      "new processor", "new deliverer", "new deliverer released"]


def test_a_running_worker_routes_by_the_edited_rules_and_status_shows_a_refused_edit(tmp_path, capsys):
    rules = example_rules_with(tmp_path, *QUEUED)
    text = open(rules, encoding="utf-8").read()
    with Stack(tmp_path, rules_path=rules, env={"SLACLOCK_RULES_CHECK_SECONDS": "0.2"}) as stack:
        before = stack.customer_creates("Wrong tap model delivered", "normal", "wrong_item")
        stack.settle()
        assert stack.store.get_case("zendesk", before).team == "warehouse"

        with open(rules, "w", encoding="utf-8") as f:
            f.write(text.replace('wrong_item = "warehouse"', 'wrong_item = "purchasing"')
                    .replace(VERSION, 'version = "edited-1"'))
        wait_until(lambda: (rules_in_use(stack.store) or {}).get("version") == "edited-1", 20,
                   "the worker to load the edited rules")
        after = stack.customer_creates("Wrong tap model delivered again", "normal", "wrong_item")
        stack.settle()
        assert stack.store.get_case("zendesk", after).team == "purchasing"
        assert stack.store.get_case("zendesk", before).team == "warehouse"  # routed once, not moved

        with open(rules, "a", encoding="utf-8") as f:
            f.write("\nescalation_speed = 3\n")
        wait_until(lambda: (rules_in_use(stack.store) or {}).get("refused"), 20, "the worker to refuse the edit")
        assert slaclock(stack, "status", "--json") == 0
        shown = json.loads(capsys.readouterr().out)["rules"]
        assert shown["version"] == "edited-1" and "escalation_speed" in shown["refused"]
        third = stack.customer_creates("Wrong tap model, third time", "normal", "wrong_item")
        stack.settle()
        assert stack.store.get_case("zendesk", third).team == "purchasing"  # still the edited rules
        assert stack.processes["worker"].poll() is None, "the worker runs on"
    assert_nothing_refused(stack)


@pytest.mark.parametrize("value", ["0", "-1", "abc", "7200"])
def test_the_check_interval_is_range_checked(value):
    from app import Settings
    from connectors.settings import SettingsError

    with pytest.raises(SettingsError, match="SLACLOCK_RULES_CHECK_SECONDS"):
        Settings.from_env({"SLACLOCK_RULES_CHECK_SECONDS": value})
