"""The versioned REST API (v1)."""
