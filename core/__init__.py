"""The bottom layer: the nouns, the settings, the text utilities and the ONNX runtime that the
indexer, the engine and every shell share. It imports nothing of ours (an import-linter contract
in pyproject.toml checks it)."""
