"""The JSON form of case memory, vendor updates and timeline events stays what slaclock stored before."""
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rules import CaseMemory, TimelineEvent, VendorUpdate
from rules.decision import TimelineKind

# What `to_json` wrote before the codec went through pydantic (captured from the rules tests).
SHAPES = json.loads((Path(__file__).parent / "fixtures" / "codec" / "main_shapes.json").read_text())


@pytest.mark.parametrize("name", sorted(SHAPES["memories"]))
def test_stored_memories_load_and_write_back_byte_for_byte(name):
    data = SHAPES["memories"][name]
    memory = CaseMemory.from_json(json.loads(json.dumps(data)))
    assert json.dumps(memory.to_json()) == json.dumps(data)
    assert all(isinstance(s.at, datetime) for s in memory.statuses)
    assert all(isinstance(d.target, timedelta) for d in memory.results)


def test_stored_ladder_snapshot_keeps_people_rotas_and_climbs():
    memory = CaseMemory.from_json(SHAPES["memories"]["escalation"])
    ladder = memory.escalation.ladder
    rota = next(lv.rota for lv in ladder.levels if lv.rota)
    assert rota.overrides and all(isinstance(shifts, tuple) for _, shifts in rota.overrides)
    assert all(isinstance(p.ids, tuple) for lv in ladder.levels for p in lv.followers)
    assert memory.escalation.climbs and memory.escalation.current is ladder.levels[memory.escalation.level]


def test_vendor_update_and_timeline_event_write_todays_form():
    update = VendorUpdate.from_json(SHAPES["vendor_update"])
    assert update.to_json() == SHAPES["vendor_update"]
    event = SHAPES["timeline_event"]
    assert TimelineEvent(TimelineKind(event["kind"]), datetime.fromisoformat(event["at"]), event["key"], event["metric"],
                         event["cycle"], event["level"], event["threshold"], event["text"]).to_json() == event


def test_older_and_sparser_forms_take_their_defaults():
    assert VendorUpdate.from_json({"at": "2026-06-01T10:00:00+00:00", "note": None}) == VendorUpdate(
        datetime.fromisoformat("2026-06-01T10:00:00+00:00"))
    memory = CaseMemory.from_json({"bases": [{"at": "2026-06-01T10:00:00+00:00", "priority": "high",
                                              "calendar": "24x7"}], "cluster": {"key": "product:x", "members": None}})
    assert memory.bases[0].tier is None and memory.bases[0].mode == "start"
    assert memory.cluster.members == 0 and memory.cluster.subject == ""
