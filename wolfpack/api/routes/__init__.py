"""The API's endpoints, one module per concern; each exposes ``router``."""
