"""Organisations, members, API keys and the audit log: who is calling, and what they may do."""
