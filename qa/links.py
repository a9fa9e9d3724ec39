"""Deep links to a quote: the article URL with a text fragment (``#:~:text=``).

A browser that supports text fragments (WICG "URL Fragment Text Directives"; Chrome, Edge,
Safari, Firefox) opens the page scrolled to the quote and highlights it; others open the
page. A term may not cross a block boundary, so a quote over several paragraphs, or a long
one, is linked in the ``textStart,textEnd`` form: its first and last few words.

>>> text_fragment_link("https://example.org/a#top", "They said 25 were foreigners, he said.")
'https://example.org/a#top:~:text=They%20said%2025%20were%20foreigners%2C%20he%20said.'
>>> text_fragment_link("https://example.org/a", "Pro-government forces won\\n\\nThe end came fast.")
'https://example.org/a#:~:text=Pro%2Dgovernment%20forces%20won,The%20end%20came%20fast.'
>>> text_fragment_link("javascript:alert(1)", "x") is None
True
"""

from __future__ import annotations

from urllib.parse import quote

EXACT_MAX_CHARS = 100  # longer quotes are linked by their first and last words
EDGE_WORDS = 4  # words in textStart and in textEnd
DIRECTIVE = ":~:"


def encode_term(term: str) -> str:
    """A text directive term, percent-encoded: every character but unreserved ones, and
    ``-`` too (with ``&`` and ``,``, the spec's syntax characters inside a directive)."""
    return quote(term, safe="").replace("-", "%2D")


def text_directive(quote_text: str) -> str | None:
    """``text=...`` for ``quote_text`` (whitespace collapsed, as the page renders it), in the
    exact form when it is short and one paragraph, else ``textStart,textEnd``."""
    lines = [" ".join(line.split()) for line in quote_text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return None
    whole = " ".join(lines)
    if len(lines) == 1 and len(whole) <= EXACT_MAX_CHARS:
        return "text=" + encode_term(whole)
    first, last = lines[0].split(), lines[-1].split()
    if len(lines) == 1:
        if len(first) <= 2 * EDGE_WORDS:
            return "text=" + encode_term(whole)  # too few words to leave a gap between
        start, end = first[:EDGE_WORDS], first[-EDGE_WORDS:]
    else:
        start, end = first[:EDGE_WORDS], last[-EDGE_WORDS:]
    return f"text={encode_term(' '.join(start))},{encode_term(' '.join(end))}"


def text_fragment_link(url: str | None, quote_text: str) -> str | None:
    """``url`` with a text fragment pointing at ``quote_text``; None unless ``url`` is an
    http(s) URL. A fragment the URL has is kept (a text directive it has is replaced)."""
    if not url or not url.lower().startswith(("http://", "https://")):
        return None
    directive = text_directive(quote_text)
    if directive is None:
        return url
    base, _, fragment = url.partition("#")
    fragment = fragment.split(DIRECTIVE, 1)[0]
    return f"{base}#{fragment}{DIRECTIVE}{directive}"
