"""One module per CLI subcommand; each exposes ``register(subparsers)``.

Keeping each feature's command in its own module lets ``controller.cli`` stay a thin
dispatcher and lets the commands that drive the simulator stay the only controller
modules that import it (enforced by import-linter).
"""

COMMANDS = ("serve", "replay", "plan", "prices", "simulate", "demo", "hash_token")
