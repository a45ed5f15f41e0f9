"""In-app notifications, and the same notice by email when SMTP is configured."""
