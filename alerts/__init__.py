"""Alerts outside the helpdesk (issue 12): Slack incoming webhooks, e-mail over SMTP, and a signed
generic webhook. `events` shapes what is sent; `channels` builds the senders from `[alerts]` and the
environment; the deliverer sends the outbox's ALERT rows through them."""
