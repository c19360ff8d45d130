"""Pulumi ComponentResources. Inputs are validated specs; nothing here re-validates."""
