"""`slaclock install zendesk|jira`: read the helpdesk, print the plan, apply it (unless --dry-run), write the .env."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping, TextIO

from dotenv import dotenv_values

from connectors.errors import ApiError
from install.envfile import update_env_file
from install.plan import Plan, shown
from rules import load_rules

# What each helpdesk's receiver path is (web/webhooks.py routes).
WEBHOOK_PATHS = {"zendesk": "/webhooks/zendesk", "jira": "/webhooks/jira"}
_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")


class InstallError(ValueError):
    """Install cannot start: a missing setting or URL, named."""


def env_file(args, env: Mapping[str, str]) -> Path:
    """--env-file, else SLACLOCK_ENV_FILE, else ./.env."""
    return Path(args.env_file or env.get("SLACLOCK_ENV_FILE") or ".env")


def webhook_url(helpdesk: str, given: str | None, env: Mapping[str, str]) -> str:
    """--webhook-url, else SLACLOCK_PUBLIC_URL plus the receiver's path."""
    public = env.get("SLACLOCK_PUBLIC_URL", "").strip().rstrip("/")
    url = (given or "").strip() or (public + WEBHOOK_PATHS[helpdesk] if public else "")
    if not url:
        raise InstallError(f"--webhook-url is required (or set SLACLOCK_PUBLIC_URL): the address the helpdesk "
                           f"sends to, e.g. https://slaclock.example.com{WEBHOOK_PATHS[helpdesk]}")
    if not _URL.match(url):
        raise InstallError(f"--webhook-url: expected an http(s) URL, got {url[:200]!r}")
    return url


def receiver_url(helpdesk: str, given: str | None, env: Mapping[str, str]) -> str | None:
    """The address `helpdesk`'s webhook must send to: `given` (a full webhook URL of this helpdesk, or the public base),
    else SLACLOCK_PUBLIC_URL plus the receiver's path; None when neither is known."""
    given = (given or "").strip().rstrip("/")
    if given.endswith(WEBHOOK_PATHS[helpdesk]):
        return given
    if given and not any(given.endswith(path) for path in WEBHOOK_PATHS.values()):
        return given + WEBHOOK_PATHS[helpdesk]
    public = env.get("SLACLOCK_PUBLIC_URL", "").strip().rstrip("/")
    return public + WEBHOOK_PATHS[helpdesk] if public else None


def _settings_env(path: Path, env: Mapping[str, str]) -> dict[str, str]:
    # The environment wins over the file, as load_dotenv does.
    from_file = {k: v or "" for k, v in dotenv_values(path).items()} if path.exists() else {}
    return {**from_file, **env}


def build_plan(helpdesk: str, env: Mapping[str, str], url: str, trigger: bool = False) -> Plan:
    """Read the helpdesk and return the plan (no writes)."""
    rules = load_rules(env.get("SLACLOCK_RULES", "").strip() or None)
    if helpdesk == "zendesk":
        from install import zendesk
        from zendesk.connector import ZendeskConnector
        from zendesk.settings import ZendeskSettings

        settings = ZendeskSettings.from_env(env, rules)
        _require(settings, ("ZENDESK_URL or ZENDESK_SUBDOMAIN", "ZENDESK_EMAIL", "ZENDESK_API_TOKEN"))
        return zendesk.plan(ZendeskConnector(settings).client, rules, url, trigger)
    from install import jira
    from jira.connector import JiraConnector
    from jira.settings import JiraSettings

    settings = JiraSettings.from_env(env, rules)
    _require(settings, ("JIRA_URL", "JIRA_EMAIL", "JIRA_API_TOKEN"))
    return jira.plan(JiraConnector(settings).client, rules, url, settings.projects, settings.webhook_secrets)


def _require(settings, names: tuple[str, str, str]) -> None:
    missing = [name for name, value in zip(names, (settings.base_url, settings.email, settings.api_token))
               if not value]
    if missing:
        raise InstallError(f"{', '.join(missing)} not set: install needs an admin's API credentials")


def run_install(args, env: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    """The `install` command; 0 when done (or planned), 1 when the helpdesk refused something."""
    path = env_file(args, env)
    merged = _settings_env(path, env)
    url = webhook_url(args.helpdesk, args.webhook_url, merged)
    if args.trigger and args.helpdesk != "zendesk":
        raise InstallError("--trigger is for Zendesk only (Jira's alternative is an automation rule: see the README)")
    try:
        plan = build_plan(args.helpdesk, merged, url, args.trigger)
        plan.print(out)
        if args.dry_run:
            print(f"dry run: nothing created, {path} not written", file=out)
            _print_to_do(plan, out)
            return 0
        values = plan.apply()
    except ApiError as e:
        hint = (": install needs an admin's credentials (fields and webhooks are admin-only)"
                if e.status in (401, 403) else "")
        print(f"error: {args.helpdesk}: {e}{hint}", file=err)
        return 1
    public = url.removesuffix(WEBHOOK_PATHS[args.helpdesk])
    if public != url and not merged.get("SLACLOCK_PUBLIC_URL"):
        values["SLACLOCK_PUBLIC_URL"] = public  # what `check` compares the webhook's address with
    changed = update_env_file(path, values)
    if changed:
        print(f"wrote to {path}: " + ", ".join(shown(name, values[name]) for name in changed), file=out)
    else:
        print(f"{path} already up to date", file=out)
    _print_to_do(plan, out)
    return 0


def _print_to_do(plan: Plan, out: TextIO) -> None:
    to_do = plan.to_do()
    if to_do:
        print("still to do by hand:", file=out)
        for line in to_do:
            print(f"  - {line}", file=out)
