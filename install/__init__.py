"""`slaclock install zendesk|jira`: create, or find and reuse, what slaclock needs in the helpdesk, and write the
resulting ids and secrets to the .env file.

    install/plan.py     the plan: steps (reuse or create), the .env values they give, what is left by hand
    install/envfile.py  update a .env file in place
    install/zendesk.py  the Zendesk steps: reason drop-down, due-time text fields, event webhook and its secret
    install/jira.py     the Jira steps: select and Date Time Picker fields, the admin webhook with a secret
"""
