"""The command line: the scripts in codes/ and the lessdata command."""
