"""Shared building blocks every app uses; it imports no app."""
