"""An offline, Stripe-compatible API server for development and tests.

    python -m stripe_sandbox --port 12111 --data data/stripe_sandbox.sqlite3

or in-process::

    from stripe_sandbox import Sandbox
    with Sandbox("/tmp/sb.sqlite3").serve() as base_url:
        ...
"""

from .core import API_VERSION
from .sandbox import DEFAULT_PORT, Sandbox, create_app, free_port

__all__ = ["API_VERSION", "DEFAULT_PORT", "Sandbox", "create_app", "free_port"]
