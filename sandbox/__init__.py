"""A local fake helpdesk in one process: the Zendesk Support API subset slaclock uses (/api/v2) and the Jira Cloud /
JSM endpoints its Jira connector uses (/rest), each with its own JSON shapes, errors and signed webhooks; faults,
lost webhooks and call counts for both.

    sandbox/zendesk/, sandbox/jira/   one package per helpdesk, with the same module for the same job: site (config
                                      and running state), store, api (the route table), shapes (JSON), errors,
                                      webhooks, control (/_sandbox/… routes), admin (fields, webhooks: install and
                                      check); Jira adds fields, jql and sla
    sandbox/*.py                      what both share: server (wiring), api (routes, guard), control, faults,
                                      sender (webhook delivery), stats, records (changes, store base), auth
"""
from sandbox.server import Sandbox, SandboxConfig, SandboxServer, create_app, serve

__all__ = ["Sandbox", "SandboxConfig", "SandboxServer", "create_app", "serve"]
