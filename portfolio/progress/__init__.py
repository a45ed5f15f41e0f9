"""Where each worker stands: competence status and readiness for a tier."""
