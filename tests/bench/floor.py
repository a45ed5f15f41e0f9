"""The floor: the portfolio as served, with one more view, the least a signed-in request can cost here.

Every page pays this before its own work (the session cookie read, the user loaded with the header's
data in one query, the before- and after-request hooks); the benchmark shows it next to hello, so a
page's ratio can be read against what no page can beat. The app is the one gunicorn serves in
production (``portfolio.wsgi``, heap settled after start-up), so the benchmark measures what is deployed.
"""

from flask_login import current_user, login_required

from portfolio.wsgi import app


@app.get("/bench/signed-in")
@login_required
def signed_in() -> str:
    """Signed in, and nothing rendered."""
    return f"Signed in as user {current_user.id}"
