"""Multi-factor sign-in: one-time codes, recovery codes, passkeys, and the gate for roles that need them."""
