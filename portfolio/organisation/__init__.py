"""The organisation's own identity: service name, organisation name, NHS or not, and logo."""
