"""The helpdesk-neutral contract every connector implements.

A connector turns a vendor's webhook into a :class:`TicketEvent`, reads a
:class:`Ticket` through the vendor's API and applies a :class:`TicketUpdate`.
"""
from connectors.model import PRIORITIES, Ticket, TicketEvent, TicketUpdate
from connectors.contract import Connector

__all__ = ["PRIORITIES", "Ticket", "TicketEvent", "TicketUpdate", "Connector"]
