"""The Zendesk connector: webhook verify + parse, API client, field mapping (no Flask here)."""
from zendesk.connector import ZendeskConnector
from zendesk.settings import ZendeskSettings

__all__ = ["ZendeskConnector", "ZendeskSettings"]
