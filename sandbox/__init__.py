"""A local fake Zendesk: the Support API subset slaclock uses, signed event webhooks, and faults."""
from sandbox.server import Sandbox, SandboxConfig, SandboxServer, create_app, serve

__all__ = ["Sandbox", "SandboxConfig", "SandboxServer", "create_app", "serve"]
