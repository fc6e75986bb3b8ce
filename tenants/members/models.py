"""Tenant-schema identity models (invitations, API tokens, service accounts, SSO)."""
