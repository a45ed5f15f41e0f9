"""The benchmark the project keeps (`make bench`).

It lives under tests/ rather than in the portfolio package: it is a tool for
developers that drives the app from outside (gunicorn, HTTP, the services
to build data), shares the test helpers in tests/serving.py, and should not
ship in the installed package.
"""
