"""The settings are defined in :mod:`core.settings` (the indexer uses them too); they are
importable from here as well."""

from core.settings import Settings, available_cores, get_settings

__all__ = ["Settings", "available_cores", "get_settings"]
