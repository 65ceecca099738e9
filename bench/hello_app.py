"""The ceiling for `bench/crisis.py`: a bare Flask "hello", served the same way as `kb serve`."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "hello"
