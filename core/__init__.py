"""The bottom layer: the nouns and the settings that the indexer, the engine and every shell
share. It imports nothing of ours (an import-linter contract in pyproject.toml checks it)."""
