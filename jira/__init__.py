"""The Jira Cloud / Jira Service Management connector: webhook verify + parse, API client, field mapping
(no Flask here)."""
from jira.connector import JiraConnector
from jira.settings import JiraSettings

__all__ = ["JiraConnector", "JiraSettings"]
