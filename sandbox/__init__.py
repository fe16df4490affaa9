"""A local fake helpdesk in one process: the Zendesk Support API subset slaclock uses (/api/v2) and the Jira Cloud /
JSM endpoints its Jira connector uses (/rest), each with its own JSON shapes, errors and signed webhooks; faults,
lost webhooks and call counts for both."""
from sandbox.server import Sandbox, SandboxConfig, SandboxServer, create_app, serve

__all__ = ["Sandbox", "SandboxConfig", "SandboxServer", "create_app", "serve"]
