"""Signing in and out, passwords, throttling and the users command."""
