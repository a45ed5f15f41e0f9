"""``flask credentials key``: a new issuer key, printed once, to keep outside the database."""

from __future__ import annotations

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask.cli import AppGroup

from . import signing

credentials_cli = AppGroup("credentials", help="Open Badges credentials: the issuer's key.")


@credentials_cli.command("key")
def new_key() -> None:
    """Print a new Ed25519 issuer key for PORTFOLIO_ISSUER_KEY (and its public half)."""
    key = Ed25519PrivateKey.generate()
    click.echo(f"PORTFOLIO_ISSUER_KEY={signing.private_multibase(key)}")
    click.echo(f"# public key (served in /.well-known/did.json): {signing.public_multibase(key.public_key())}")
    click.echo("# Keep the private key outside the database and back it up: without it no new credential can be")
    click.echo("# issued, and changing it makes every credential issued so far fail verification.")
