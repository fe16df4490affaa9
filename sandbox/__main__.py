"""`python -m sandbox --port N --webhook-url URL --webhook-secret S --email E --token T [--jira-… ]`.

One process serves the fake Zendesk (/api/v2) and the fake Jira Service Management site (/rest); Jira webhooks
go to --jira-webhook-url, signed with --jira-webhook-secret.
"""
from __future__ import annotations

import argparse
import os
import logging
import re
from pathlib import Path
from typing import Mapping, Sequence

from sandbox.jira.site import JiraConfig
from sandbox.server import SandboxConfig, serve
from sandbox.zendesk.site import ZendeskConfig


def custom_field_id(value: str) -> str:
    """argparse type: a Jira custom field id like customfield_10050."""
    if not re.fullmatch(r"customfield_[0-9]+", value.strip()):
        raise argparse.ArgumentTypeError(f"expected a Jira custom field id like customfield_10050, got {value!r}")
    return value.strip()


def parse_args(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> argparse.Namespace:
    """Flags, defaulting to SANDBOX_WEBHOOK_URL, SANDBOX_WEBHOOK_SECRET, ZENDESK_EMAIL, ZENDESK_API_TOKEN, and for
    Jira SANDBOX_JIRA_WEBHOOK_URL, JIRA_WEBHOOK_SECRET, JIRA_EMAIL, JIRA_API_TOKEN, JIRA_REASON_FIELD_ID and
    JIRA_DUE_FIELD_ID (and SANDBOX_JIRA_NO_BROWSE, comma-separated)."""
    env = os.environ if env is None else env
    defaults, jira = ZendeskConfig(), JiraConfig()
    parser = argparse.ArgumentParser(prog="python -m sandbox",
                                     description="Run the local fake Zendesk and Jira Service Management.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089, help="0 picks a free port (printed on start)")
    parser.add_argument("--webhook-url", default=env.get("SANDBOX_WEBHOOK_URL") or None)
    parser.add_argument("--webhook-secret", default=env.get("SANDBOX_WEBHOOK_SECRET") or defaults.webhook_secret)
    parser.add_argument("--email", default=env.get("ZENDESK_EMAIL") or defaults.api_email)
    parser.add_argument("--token", default=env.get("ZENDESK_API_TOKEN") or defaults.api_token)
    parser.add_argument("--account-id", type=int, default=defaults.account_id)
    parser.add_argument("--api-user-id", type=int, default=defaults.api_user_id)
    parser.add_argument("--agent-user-id", type=int, default=defaults.agent_user_id)
    parser.add_argument("--api-user-role", choices=("admin", "agent"),
                        default=env.get("SANDBOX_ZENDESK_ROLE") or defaults.api_user_role,
                        help="the API user's role; an agent's token gets 403 from the incremental export")
    group = parser.add_argument_group("Jira")
    group.add_argument("--jira-webhook-url", default=env.get("SANDBOX_JIRA_WEBHOOK_URL") or None)
    group.add_argument("--jira-webhook-secret", default=env.get("JIRA_WEBHOOK_SECRET") or jira.webhook_secret,
                       help="empty: send unsigned webhooks")
    group.add_argument("--jira-email", default=env.get("JIRA_EMAIL") or jira.api_email)
    group.add_argument("--jira-token", default=env.get("JIRA_API_TOKEN") or jira.api_token)
    group.add_argument("--jira-reason-field-id", type=custom_field_id,
                       default=env.get("JIRA_REASON_FIELD_ID") or jira.reason_field_id,
                       help="the reason-code select field (customfield_NNNNN)")
    group.add_argument("--jira-due-field-id", type=custom_field_id,
                       default=env.get("JIRA_DUE_FIELD_ID") or jira.due_field_id,
                       help="the due-time Date Time Picker field (customfield_NNNNN)")
    group.add_argument("--jira-no-browse", action="append", metavar="ACCOUNT_ID",
                       default=[a for a in (env.get("SANDBOX_JIRA_NO_BROWSE") or "").split(",") if a.strip()],
                       help="an account that lacks Browse permission (adding it as a watcher is a 404); repeatable")
    group = parser.add_argument_group("API descriptions")
    group.add_argument("--no-validate", action="store_true",
                       help="serve requests the official API descriptions refuse (default: refuse them)")
    group.add_argument("--openapi-dir", default=env.get("SANDBOX_OPENAPI_DIR") or None,
                       help="the folder of the official API descriptions (default: shared/reference/openapi "
                            "beside the checkout)")
    group.add_argument("--rejected-log", default=env.get("SANDBOX_REJECTED_LOG") or None,
                       help="append each refused request to this file as a JSON line")
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    jira = JiraConfig(api_email=args.jira_email, api_token=args.jira_token, webhook_url=args.jira_webhook_url,
                      webhook_secret=args.jira_webhook_secret or None, reason_field_id=args.jira_reason_field_id,
                      due_field_id=args.jira_due_field_id,
                      no_browse_accounts=tuple(a.strip() for a in args.jira_no_browse))
    zendesk = ZendeskConfig(api_email=args.email, api_token=args.token, webhook_url=args.webhook_url,
                            webhook_secret=args.webhook_secret, api_user_id=args.api_user_id,
                            agent_user_id=args.agent_user_id, account_id=args.account_id,
                            api_user_role=args.api_user_role)
    return SandboxConfig(zendesk=zendesk, jira=jira, validate=not args.no_validate,
                         openapi_dir=Path(args.openapi_dir) if args.openapi_dir else None,
                         rejected_log=Path(args.rejected_log) if args.rejected_log else None)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    serve(config_from_args(args), args.host, args.port)


if __name__ == "__main__":
    main()
