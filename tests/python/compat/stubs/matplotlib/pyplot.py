"""Empty: see matplotlib/__init__.py."""
