"""Self-service pages of tenants.members, split by feature: members, security, sso."""
