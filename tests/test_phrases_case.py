"""A capitalised word is a name only where its document treats it as one (core.memory.phrases).

Manuals open each option's description with a capitalised verb ("Append to logfile."); read as
names, such words tied unrelated man pages together (issue 15's tail/ssh/sed question)."""
from __future__ import annotations

from core.memory import phrases as P
from core.memory.phrases import document_phrases, extract_phrases

# option descriptions as a man page renders them (chunking joins a chunk's lines with spaces)
WGET = ["-a logfile --append-output=logfile Append to logfile. This is the same as -o, only it appends "
        "to logfile instead of overwriting the old log file.",
        "-o logfile --output-file=logfile Log all messages to logfile. The messages are normally reported "
        "to standard error.",
        "-d --debug Turn on debug output, meaning various information important to the developers of Wget.",
        "-c --continue Continue getting a partially-downloaded file; Wget will append to it."]


def test_a_verb_opening_option_lines_is_no_name():
    got = document_phrases(WGET, title="wget")
    assert all("append" not in p for p in got)  # "Append" opens a line; the page says "appends", "append"
    assert "append" in extract_phrases(WGET[0])  # alone, the chunk cannot tell
    assert all("wget" in p for p in got)  # the title phrase stays on every chunk
    assert "wget" in got[2]  # a name written capitalised mid-sentence ("developers of Wget") stays
    # a passage of one or two chunks keeps its capitalised words as names (too short to tell,
    # and too short for key terms, which would otherwise take such a word over)
    assert "append" in document_phrases(WGET[:2])[0]


def test_names_acronyms_and_titles_stay_names():
    rush = ["Rush released their first album in 1974, a hard rock record.",
            "Neil Peart joined Rush as drummer and lyricist later that year.",
            "Unlike the gold rush towns, Toronto grew slowly."]
    assert all("rush" in p for p in document_phrases(rush)[:2])  # "joined Rush": capitalised mid-sentence
    url = ["URL strings are parsed by the url module.", "A URL has a protocol and a host.",
           "Call url.parse() on a URL string."]
    assert all("url" in p for p in document_phrases(url))  # an acronym, not a capitalised word
    film = ["Hustler is a 1961 film about pool.", "Newman starred in The Hustler as a pool hustler.",
            "The pool hustler plays for money."]
    assert "hustler" in document_phrases(film)[0]  # "in The Hustler": a name inside a mid-sentence span
    assert "hustler" in document_phrases(film)[1]


def test_the_words_a_document_lowers():
    words = P._lower_words(WGET)
    assert "append" in words and "log" in words  # "appends" folds to "append"; "log file"
    assert "wget" not in words  # "developers of Wget" (and never lower case)
    assert P._lower_words([]) == frozenset() and P._lower_words([None, ""]) == frozenset()
    assert not P._title_word("URL", "url") and not P._title_word("OpenSSL", "openssl")
    assert P._title_word("Append", "append")
