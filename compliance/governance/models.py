"""Governance models: policies, violations, DSRs, consent, DPIA, AI systems."""
