"""OLA budgets (`[ola]`): the holder of an open case (a ladder level, a vendor) gets a note at `warn_percent` of
its budget and, once the budget is used up, the case climbs one level. Each once per cycle and holder
(`ola:<cycle>:<holder>:warn`, `ola:<cycle>:<holder>` in `CaseMemory.fired`)."""
from __future__ import annotations

from datetime import datetime, timedelta

from rules import wording
from rules.attribution import resolution_calendar, spans
from rules.decision import Action, ActionKind, CaseMemory, TimelineEvent, TimelineKind
from rules.escalation import Push
from rules.effects import Effects
from rules.schema import Rules


def ola_pushes(rules: Rules, memory: CaseMemory, opened_at: datetime, now: datetime, cycle: int,
               fired: tuple[str, ...] = ()) -> tuple[tuple[Push, ...], Effects]:
    """The current holder's warning (an effect) and climb (a push) once reached, and when the next is due;
    `fired`: keys fired earlier in this decision (besides the memory's)."""
    cfg = rules.ola
    if cfg is None or not cfg.enabled or not cfg.budgets:
        return (), Effects()
    held = spans(rules, memory, opened_at, now)
    if not held or held[-1].end < now or held[-1].kind == "paused" or held[-1].holder not in cfg.budgets:
        return (), Effects()
    current, budget = held[-1], cfg.budgets[held[-1].holder]
    cal = resolution_calendar(rules, memory)
    used = sum((cal.elapsed(s.start, s.end) for s in held if s.holder == current.holder), timedelta())
    before = used - cal.elapsed(current.start, current.end)

    def reached(point: timedelta) -> datetime:
        return current.start if point <= before else cal.add(current.start, point - before)

    effects, pushes = Effects(), []
    warn_key, key = f"ola:{cycle}:{current.holder}:warn", f"ola:{cycle}:{current.holder}"
    warn_at = budget * cfg.warn_percent / 100
    fired = (*memory.fired, *fired)
    if warn_key not in fired and used >= warn_at:
        text = wording.ola_warning(current.title, warn_at, budget)
        at = reached(warn_at)
        effects = effects.add(fired=[warn_key], actions=[Action(warn_key, ActionKind.NOTE, text=text)],
                              timeline=[TimelineEvent(TimelineKind.OLA, at, warn_key, level=current.holder,
                                                      threshold="warn", text=text)])
    elif warn_key not in fired:
        effects = effects.add(next_at=reached(warn_at), next_what=wording.ola_ahead(current.title, warning=True))
    if cfg.escalate and key not in fired:
        if used >= budget:
            pushes.append(Push(reached(budget), key, TimelineKind.OLA, "exhausted", f"ola.budgets.{current.holder}",
                               wording.ola_exhausted(current.title, budget), priority_rule="ola.budgets"))
        else:
            effects = effects.add(next_at=reached(budget), next_what=wording.ola_ahead(current.title, warning=False))
    return tuple(pushes), effects
