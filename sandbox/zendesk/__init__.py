"""The fake Zendesk: the Support API subset slaclock uses (/api/v2), its agent controls and signed webhooks."""
from sandbox.api import Helpdesk
from sandbox.zendesk import api, errors
from sandbox.zendesk.control import control

HELPDESK = Helpdesk(name="zendesk", prefix=api.PREFIX, api=api.bp, control=control,
                    not_authenticated=errors.not_authenticated, fault_answer=errors.fault_answer,
                    not_found=errors.not_found, contract_violation=errors.contract_violation)
