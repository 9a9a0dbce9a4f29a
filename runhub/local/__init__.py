"""The built-in ``local`` backend (placeholder until implemented)."""
