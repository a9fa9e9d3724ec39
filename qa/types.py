"""The shared nouns are defined in :mod:`core.types` (the indexer uses them too); they are
importable from here as well."""

from core.types import Answer, Article, ArticleRef, AskResult, Passage

__all__ = ["Answer", "Article", "ArticleRef", "AskResult", "Passage"]
