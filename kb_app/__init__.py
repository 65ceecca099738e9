"""Account Security knowledge base and SOP training platform."""

__version__ = "0.1.0"
