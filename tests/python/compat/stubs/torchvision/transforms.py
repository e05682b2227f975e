"""Empty: see torchvision/__init__.py."""
