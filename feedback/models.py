"""Planned; see the project issues."""
