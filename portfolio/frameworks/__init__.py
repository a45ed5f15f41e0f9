"""Competency frameworks: data files, the loader, pages and locality competences."""
