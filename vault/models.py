"""Models of the vault app (tenant schema)."""
