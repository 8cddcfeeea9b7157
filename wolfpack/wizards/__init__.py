"""Wizards: one administrator request that builds a whole group of resources (S40), as pure
functions of the configuration, so the CLI and the API create the same thing."""
