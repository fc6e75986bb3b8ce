"""Tenant pages of governance, one module per area."""
