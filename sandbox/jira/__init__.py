"""The fake Jira Service Management site: the Jira Cloud (/rest/api/3) and JSM (/rest/servicedeskapi) endpoints
slaclock uses, customer and agent controls, and signed admin webhooks."""
from sandbox.api import Helpdesk
from sandbox.jira import api, errors
from sandbox.jira.control import control

HELPDESK = Helpdesk(name="jira", prefix=api.PREFIX, api=api.bp, control=control,
                    not_authenticated=errors.not_authenticated, fault_answer=errors.fault_answer,
                    not_found=errors.not_found, contract_violation=errors.contract_violation)
