"""`python -m sandbox --port N --webhook-url URL --webhook-secret S --email E --token T`."""
from __future__ import annotations

import argparse
import os
from typing import Mapping, Sequence

from sandbox.server import SandboxConfig, serve


def parse_args(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> argparse.Namespace:
    """Flags, defaulting to SANDBOX_WEBHOOK_URL, SANDBOX_WEBHOOK_SECRET, ZENDESK_EMAIL, ZENDESK_API_TOKEN."""
    env = os.environ if env is None else env
    defaults = SandboxConfig()
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="Run the local fake Zendesk.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089, help="0 picks a free port (printed on start)")
    parser.add_argument("--webhook-url", default=env.get("SANDBOX_WEBHOOK_URL") or None)
    parser.add_argument("--webhook-secret", default=env.get("SANDBOX_WEBHOOK_SECRET") or defaults.webhook_secret)
    parser.add_argument("--email", default=env.get("ZENDESK_EMAIL") or defaults.api_email)
    parser.add_argument("--token", default=env.get("ZENDESK_API_TOKEN") or defaults.api_token)
    parser.add_argument("--account-id", type=int, default=defaults.account_id)
    parser.add_argument("--api-user-id", type=int, default=defaults.api_user_id)
    parser.add_argument("--agent-user-id", type=int, default=defaults.agent_user_id)
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    return SandboxConfig(api_email=args.email, api_token=args.token, webhook_url=args.webhook_url,
                         webhook_secret=args.webhook_secret, api_user_id=args.api_user_id,
                         agent_user_id=args.agent_user_id, account_id=args.account_id)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    serve(config_from_args(args), args.host, args.port)


if __name__ == "__main__":
    main()
