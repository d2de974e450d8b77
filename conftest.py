pytest_plugins = ["guichet.testing"]
