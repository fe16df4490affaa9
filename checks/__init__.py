"""`slaclock check`'s questions to the helpdesk: every id, field, name, permission and the webhook the settings and the
rules file rely on (checks/zendesk.py, checks/jira.py). Reads only."""
