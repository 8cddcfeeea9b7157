"""The ``wolfpack`` command line: one module per noun, verbs after cluster.exe and the
FailoverClusters cmdlets (see ``docs/cli.md``). Entry point: :data:`wolfpack.cli.main.app`."""
