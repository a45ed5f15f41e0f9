"""The append-only audit ledger and `flask audit verify`."""
