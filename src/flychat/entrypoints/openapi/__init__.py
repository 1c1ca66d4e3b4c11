"""The OpenAPI document: HTTP shapes, one documentation entry per operation, the config."""
