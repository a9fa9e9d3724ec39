"""Text utilities shared by the indexer and the reader: cleaning, sentences and words."""
