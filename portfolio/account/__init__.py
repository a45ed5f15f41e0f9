"""Your account: your details, changing your password, and resetting a forgotten one."""
