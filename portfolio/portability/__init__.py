"""Frameworks and achievements in open standards: 1EdTech CASE packages and the CASE service."""
