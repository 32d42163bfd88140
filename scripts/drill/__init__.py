"""The multi-host drill (python -m scripts.drill): see __main__.py."""
