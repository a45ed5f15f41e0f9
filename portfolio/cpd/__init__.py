"""Continuing professional development: annual appraisals with a CPD plan, and the CPD log."""
