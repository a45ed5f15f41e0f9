"""Gunicorn settings for `make run` and for deployments: ``gunicorn -c portfolio/gunicorn_conf.py``.

Each setting can be changed from the environment without editing this file.
"""

from __future__ import annotations

import multiprocessing
import os

wsgi_app = "portfolio.wsgi:app"
bind = os.environ.get("PORTFOLIO_BIND") or f"127.0.0.1:{os.environ.get('PORT', '5000')}"

# Sync workers: the work is CPU and database bound. Two per core plus one is
# gunicorn's advice; capped so that a big machine does not open dozens of
# database connections. In production put a buffering proxy (nginx) in front.
workers = int(os.environ.get("WEB_CONCURRENCY") or min(2 * multiprocessing.cpu_count() + 1, 9))
worker_class = "sync"
# A worker silent this long is restarted: long enough for a large portfolio PDF.
timeout = int(os.environ.get("PORTFOLIO_WORKER_TIMEOUT") or 60)
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, staggered, so slow leaks cannot grow for ever.
max_requests = 1000
max_requests_jitter = 100
# Heartbeat files in memory, not on a possibly slow disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# Requests are logged by path only: query strings can hold searched-for names.
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
# No control socket: it lives at one path per user, so two servers on a machine would share it.
control_socket_disable = True
