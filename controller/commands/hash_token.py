"""`sitecharge hash-token`: make an API token and the hash to put in the site config.

The config keeps only the hash; the token is printed once and goes to whoever uses it.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import sys

from controller.security import hash_secret

ROLES = ("viewer", "operator", "utility")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "hash-token",
        help="make an API token and its hash for [[api.tokens]]",
        description="Generate a random API token (or hash one read from stdin) and print the "
        "[[api.tokens]] entry for the site config. Only the hash belongs in the config.",
    )
    parser.add_argument("--name", required=True, help="who uses the token (shown in the audit log)")
    parser.add_argument("--role", required=True, choices=ROLES, help="what the token may do")
    parser.add_argument(
        "--stdin",
        action="store_true",
        help="hash the token read from stdin instead of generating one",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not re.fullmatch(r"[A-Za-z0-9._@-]{1,64}", args.name):
        print("sitecharge hash-token: --name: 1-64 of A-Z a-z 0-9 . _ @ -", file=sys.stderr)
        return 2
    if args.stdin:
        token = sys.stdin.readline().strip()
        if len(token) < 16:
            print(
                "sitecharge hash-token: the token must have at least 16 characters", file=sys.stderr
            )
            return 2
    else:
        token = secrets.token_urlsafe(32)
    entry = (
        "[[api.tokens]]\n"
        f"name = {json.dumps(args.name)}\n"
        f"role = {json.dumps(args.role)}\n"
        f"token_hash = {json.dumps(hash_secret(token))}\n"
    )
    if not args.stdin:
        print(f"# token (shown once; give it to {args.name}): {token}")
    sys.stdout.write(entry)
    return 0
