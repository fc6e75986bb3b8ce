"""Models of the deployments app (tenant schema)."""
