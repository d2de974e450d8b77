"""Placeholder until the app's issue lands."""
