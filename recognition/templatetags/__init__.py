"""Template tags and filters of the pages (loaded by templates, imported by nothing else)."""
