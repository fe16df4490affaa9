"""Zendesk connector settings, read from the environment and the rules file."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from typing import Mapping

from connectors.settings import (DEFAULT_RATE_PER_MINUTE, MAX_RATE_PER_MINUTE, HelpdeskSettings, boolean,
                                 comma_list, email_address, field_id, number, site_url, timeout_seconds, unmet)
from rules.schema import Rules

# Zendesk signs "Test webhook" requests from the webhook builder with this public secret
# (base64 of "this_secret_is_for_testing_only", used as the literal key string).
STATIC_TEST_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
# Common practice for signed timestamps (Standard Webhooks); Zendesk prescribes none.
DEFAULT_TOLERANCE_SECONDS = 300
# Zendesk has delivered webhooks hours late after incidents (reference zendesk.md §1.6); a week is the most
# that still means something.
MAX_TOLERANCE_SECONDS = 7 * 86_400

_SUBDOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$", re.IGNORECASE)
_field_id = partial(field_id, pattern=re.compile(r"^[0-9]+$"), expected="a numeric Zendesk ticket field id")


METRIC_FIELD_VARIABLES = {"first_response": "ZENDESK_FIRST_RESPONSE_FIELD_ID",
                          "next_update": "ZENDESK_NEXT_UPDATE_FIELD_ID"}


@dataclass(frozen=True)
class ZendeskSettings(HelpdeskSettings):
    """Where the Zendesk account is, how to authenticate, and which custom fields slaclock uses.

    `metric_field_ids` are text fields (a Zendesk date field has no time)."""

    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS
    allow_test_secret: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str], rules: Rules) -> "ZendeskSettings":
        """Read ZENDESK_* variables; raise ValueError naming the variable for any bad value."""
        fields = rules.connectors.zendesk
        allow_test_secret = boolean(env, "ZENDESK_ALLOW_TEST_SECRET")
        secrets = comma_list(env, "ZENDESK_WEBHOOK_SECRET")
        if STATIC_TEST_SECRET in secrets and not allow_test_secret:
            raise ValueError("ZENDESK_WEBHOOK_SECRET contains Zendesk's public test secret; "
                             "set ZENDESK_ALLOW_TEST_SECRET=true instead (for setup only)")
        return cls(
            base_url=_base_url(env),
            email=email_address(env, "ZENDESK_EMAIL", "the API user's email address (without '/token')",
                                refused_suffix="/token"),
            api_token=env.get("ZENDESK_API_TOKEN", "").strip(),
            webhook_secrets=secrets,
            tolerance_seconds=int(number(env, "ZENDESK_WEBHOOK_TOLERANCE_SECONDS", DEFAULT_TOLERANCE_SECONDS,
                                         integer=True, minimum=0, maximum=MAX_TOLERANCE_SECONDS)),
            allow_test_secret=allow_test_secret,
            rate_per_minute=number(env, "ZENDESK_RATE_PER_MINUTE", DEFAULT_RATE_PER_MINUTE, minimum=0, strict=True,
                                   maximum=MAX_RATE_PER_MINUTE),
            timeout_seconds=timeout_seconds(env),
            reason_field_id=_field_id(env, "ZENDESK_REASON_FIELD_ID", fields.reason_field_id,
                                      "connectors.zendesk.reason_field_id"),
            due_field_id=_field_id(env, "ZENDESK_DUE_FIELD_ID", fields.due_field_id,
                                   "connectors.zendesk.due_field_id"),
            metric_field_ids={metric: found for metric, variable in METRIC_FIELD_VARIABLES.items()
                              if (found := _field_id(env, variable, None, variable))},
        )

    def problems(self) -> list[str]:
        """What is missing or risky for a working setup, one line each (for `slaclock check`)."""
        return unmet(
            (self.base_url, "ZENDESK_URL or ZENDESK_SUBDOMAIN is not set"),
            (self.email, "ZENDESK_EMAIL is not set"),
            (self.api_token, "ZENDESK_API_TOKEN is not set"),
            (self.webhook_secrets, "ZENDESK_WEBHOOK_SECRET is not set: every signed webhook will be rejected"
                                   + (" except Zendesk's test requests" if self.allow_test_secret else "")),
            (not self.allow_test_secret, "ZENDESK_ALLOW_TEST_SECRET is on: anyone can sign webhooks with Zendesk's "
                                         "public test secret; turn it off once the webhook is created"),
            (self.due_field_id, "no due-time field: set ZENDESK_DUE_FIELD_ID or connectors.zendesk.due_field_id"),
            (self.reason_field_id,
             "no reason-code field: set ZENDESK_REASON_FIELD_ID or connectors.zendesk.reason_field_id"),
        )


def _base_url(env: Mapping[str, str]) -> str:
    url = site_url(env, "ZENDESK_URL", "a URL like https://acme.zendesk.com")
    subdomain = env.get("ZENDESK_SUBDOMAIN", "").strip()
    if url or not subdomain:
        return url
    if not _SUBDOMAIN.match(subdomain):
        raise ValueError(f"ZENDESK_SUBDOMAIN: expected the name before .zendesk.com (e.g. 'acme'), got {subdomain!r}"
                         "; use ZENDESK_URL for a full URL")
    return f"https://{subdomain.lower()}.zendesk.com"
