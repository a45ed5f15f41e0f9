"""Data protection: what a reader may see of a worker's evidence, and a person's own data as a zip."""
