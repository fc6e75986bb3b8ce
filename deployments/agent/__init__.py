"""The Tenantry agent: the node program (`python -m deployments.agent --url … --token …`).

It imports nothing from Django, so it runs on any node with Python 3.11, `websockets` and
`cryptography`.
"""
