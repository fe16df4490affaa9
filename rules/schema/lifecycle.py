"""The end of a case's lifecycle: the customer confirms a solve before it closes (seeds 001, 003 step 7); an
escalated case gets a post-incident review (seed 003 step 8)."""
from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, Field

from rules.schema.values import DURATION_HELP, FIELD_HELP, Duration, FieldRef, Placeholders, Priority, Strict

# Placeholders of the confirmation messages. {reference}: the ticket as the customer knows it (#42, SD-12);
# {close_at}: when the case closes without an answer, in the customer's zone ("Thu 4 Jun at 15:00 EDT").
CONFIRMATION_FIELDS: tuple[str, ...] = ("reference", "close_at", "quiet_period", "subject", "ticket", "ticket_id")
ConfirmationTemplate = Annotated[str, BeforeValidator(Placeholders(CONFIRMATION_FIELDS))]


class ConfirmationTemplates(Strict):
    """The public replies of the confirmation loop; an empty text sends nothing (the loop still runs)."""

    key_kind = "message"
    ask: ConfirmationTemplate = Field(
        "We believe your request {reference} is resolved. Is everything working again? Reply \"yes\" and we "
        "will close it, or tell us what is still wrong and we will pick it up again. If we do not hear from "
        "you, we will close it on {close_at}.", description="a text template")
    closed_confirmed: ConfirmationTemplate = Field(
        "Thank you for confirming: your request {reference} is now closed. If the problem comes back, reply to "
        "this message and we will look into it again.", description="a text template")
    reopened: ConfirmationTemplate = Field(
        "Thank you for telling us. We have reopened your request {reference} and will look into it again.",
        description="a text template")
    closed_quiet: ConfirmationTemplate = Field(
        "We have not heard back from you, so we have closed your request {reference}. If the problem comes "
        "back, reply to this message and we will look into it again.", description="a text template")


def _words(value: object) -> object:
    # Matched against a lowercased reply: keep them lowercase and without surrounding blanks.
    return [w.strip().lower() for w in value] if isinstance(value, list) else value


Words = Annotated[list[str], BeforeValidator(_words)]


class Confirmation(Strict):
    """Seeds 001, 003: a solved case closes only once the customer confirms, or stays quiet long enough."""

    enabled: bool = Field(True, description="false to close nothing and ask nobody (solved stays solved)")
    quiet_period: Duration = Field(timedelta(hours=72), description=f"how long a solved case waits for the "
                                                                    f"customer's answer: {DURATION_HELP}, wall-clock")
    tag: str = Field("slaclock_unconfirmed", description="the tag a solved case carries while it waits")
    yes_words: Words = Field(["yes", "fixed", "resolved", "solved", "works", "working", "thanks", "thank you",
                              "all good"], description="a list of words or phrases that confirm (whole words)")
    no_words: Words = Field(["no", "not", "still", "doesn't", "didn't", "isn't", "won't", "can't",
                             "broken"], description="a list of words or phrases that say it is not fixed; they "
                                                    "win over yes_words")
    templates: ConfirmationTemplates = ConfirmationTemplates()


# Placeholders of the post-incident task (seed 003 step 8). {owner}: the escalation owner; {level}: the level the
# case reached; {solved_at}, {due}: in the team's zone.
POST_INCIDENT_FIELDS: tuple[str, ...] = ("ticket", "ticket_id", "subject", "priority", "owner", "level", "solved_at",
                                         "due")
PostIncidentTemplate = Annotated[str, BeforeValidator(Placeholders(POST_INCIDENT_FIELDS))]
# The task's headings, always appended to its body: the root cause is read back under the first.
HEADINGS: tuple[str, ...] = ("Root cause", "Actions taken", "Preventive steps")


class PostIncident(Strict):
    """Seed 003 step 8: an escalated case, once solved, gives its escalation owner a post-incident task."""

    enabled: bool = Field(True, description="false to open no post-incident task")
    due_in: Duration = Field(timedelta(days=5), description=f"when the task is due after the solve: {DURATION_HELP}, "
                                                            "wall-clock")
    priority: Priority = Field("normal", description="the task's priority")
    subject: PostIncidentTemplate = Field("Post-incident review: {subject} ({ticket})", description="a text template")
    body: PostIncidentTemplate = Field(
        "The escalated case {ticket} was solved on {solved_at}; {owner} owned its escalation ({level}). Please "
        "write down the root cause, the actions taken and the preventive steps under the headings below by {due}, "
        "then solve this task.", description="a text template (the three headings follow it)")
    root_cause_field: FieldRef | None = Field(None, description=FIELD_HELP + " holding the root cause (absent: the "
                                                                             "text under the task's Root cause heading)")
