"""The yardstick: a bare Flask app that says hello, served exactly as the portfolio is."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    """The least work a Flask view can do."""
    return "Hello, World!"
