"""People: managers invite, change and deactivate the people of the service."""
