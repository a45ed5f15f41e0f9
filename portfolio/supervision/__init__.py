"""Supervision assignments: who supervises whom, and when."""
