"""Chunking: every chunk fits the model's 128 word pieces, boundaries are respected, hashes dedupe."""
from __future__ import annotations

import pytest

from core.memory.chunking import MAX_TOKENS, chunk_hash, chunk_text, count_tokens


def test_chunks_of_real_articles_fit_the_model(wiki_docs):
    text = "\n\n".join(" ".join(d.sentences[:40]) for d in wiki_docs[:5])
    chunks = chunk_text(text)
    assert len(chunks) > 20
    assert max(count_tokens(chunks)) + 2 <= MAX_TOKENS
    # nothing lost: the words of the text are the words of the chunks
    assert " ".join(chunks).split() == text.split()


def test_counts_come_from_the_model_tokenizer():
    # WordPiece splits rare words: more pieces than words proves the real tokenizer is used
    assert count_tokens(["Antidisestablishmentarianism pneumonoultramicroscopic"])[0] > 4


def test_paragraphs_kept_apart_without_a_target_and_sentences_are_packed():
    text = "Alpha one. Alpha two.\n\nBeta one.\n \nGamma."
    assert chunk_text(text, target_tokens=None) == ["Alpha one. Alpha two.", "Beta one.", "Gamma."]
    assert chunk_text(text) == ["Alpha one. Alpha two.\nBeta one.\nGamma."]  # merged, a line each


def test_small_paragraphs_merge_up_to_the_target_and_headings_open_chunks():
    opts = [f"-{c}, --option-{c}\n       Set the {c} flag of the archive program for this run." for c in "abcdefgh"]
    text = "# Options\n\n" + "\n\n".join(opts) + "\n\n## Exit status\n\nZero on success."
    chunks = chunk_text(text, target_tokens=64)
    n = count_tokens(chunks)
    assert all(k + 2 <= 64 for k in n) and len(chunks) < len(opts)  # merged, within the target
    assert chunks[0].startswith("# Options\n-a, --option-a")
    assert chunks[-1] == "## Exit status\nZero on success."  # the heading opened a chunk, on its own line
    assert " ".join(chunks).split() == text.split()  # nothing lost
    with pytest.raises(ValueError, match="target_tokens"):
        chunk_text(text, target_tokens=-5)


def test_markup_noise_is_dropped():
    md = "## fs.cp()\n<!-- YAML\nadded: v16.7.0\n-->\n\nCopies a file.\n\n<!-- YAML added: v15.0.0 -->\n"
    assert chunk_text(md) == ["## fs.cp()\nCopies a file."]
    man = ("GZIP(1)                     General Commands Manual                    GZIP(1)\n\n"
           "NAME\n       gzip - compress or expand files\n\nDESCRIPTION\n       In par\u2010\n"
           "       ticular, it will ignore symbolic links.\n\n"
           "                                     local                             GZIP(1)\n")
    chunks = chunk_text(man)
    assert chunks == ["NAME\ngzip - compress or expand files", "DESCRIPTION\nIn particular, it will ignore symbolic links."]
    # a man reference inside prose stays
    assert "see gzip(1) for details" in chunk_text("Compress with xz; see gzip(1) for details.")[0]


def test_a_form_feed_ends_a_paragraph_and_a_soft_hyphen_is_dropped():
    # "\fSection two" ran on from the paragraph before the page break; "Soft\u00adware" (HTML's &shy;) was a word
    assert chunk_text("Section one.\n\fSection two.\fSection three.", target_tokens=None) == [
        "Section one.", "Section two.", "Section three."]
    assert chunk_text("Soft\u00adware for fer\u00adries.") == ["Software for ferries."]


def test_groff_hyphenation_is_undone_but_a_compounds_hyphen_is_kept():
    # groff sets "-" as "\u2010", and a line may end at it: "self\u2010" "contained" was "selfcontained"
    import shutil
    import subprocess

    assert shutil.which("groff"), "groff is needed to render real hyphenated text"
    src = ".ll 1.3i\nThis is self-contained and non-trivial text about hyphenation, containing state-of-the-art.\n"
    text = subprocess.run(["groff", "-Tutf8"], input=src, capture_output=True, text=True, check=True).stdout
    assert "\u2010\n" in text  # lines end at a hyphen
    words = " ".join(chunk_text(text)).replace("\u2010", "-").split()
    assert words == "This is self-contained and non-trivial text about hyphenation, containing state-of-the-art.".split()


def test_chunks_of_a_real_man_page_are_not_tiny():
    import shutil
    import subprocess

    assert shutil.which("man"), "man is needed to render a real man page"
    text = subprocess.run(["man", "-P", "cat", "tar"], capture_output=True, text=True, check=True,
                          env={"MANWIDTH": "80", "PATH": "/usr/bin:/bin"}).stdout
    old = chunk_text(text, target_tokens=None, clean=False)
    new = chunk_text(text)
    small = lambda cs: sum(len(c) < 60 for c in cs) / len(cs)  # noqa: E731
    assert small(old) > 0.2 and small(new) < 0.05, (small(old), small(new))
    assert max(count_tokens(new)) + 2 <= MAX_TOKENS
    assert not any("General Commands Manual" in c for c in new)


def test_one_overlong_sentence_is_cut_at_words():
    sentence = " ".join(f"word{i}" for i in range(400)) + "."
    chunks = chunk_text(sentence, max_tokens=64)
    assert len(chunks) > 3
    assert all(n + 2 <= 64 for n in count_tokens(chunks))
    assert " ".join(chunks).split() == sentence.split()


def test_blank_text_and_bad_limit():
    assert chunk_text(" \n\n \t") == []
    with pytest.raises(ValueError, match="too small"):
        chunk_text("text", max_tokens=3)


def test_hash_ignores_whitespace_only():
    assert chunk_hash("a  b\nc") == chunk_hash("a b c")
    assert chunk_hash("a b c") != chunk_hash("a b d")


def test_a_heading_is_never_left_alone_before_a_long_paragraph(wiki_docs):
    body = " ".join(wiki_docs[3].sentences[:12])  # longer than one chunk
    chunks = chunk_text("### `fsPromises.rmdir(path[, options])` and friends\n\n" + body)
    assert chunks[0].startswith("### `fsPromises.rmdir") and len(chunks[0]) > 200
    assert max(count_tokens(chunks)) + 2 <= MAX_TOKENS


def test_terminal_overstrike_is_removed():
    bold = "".join(f"{c}\b{c}" for c in "NAME")
    under = "".join(f"_\b{c}" for c in "file")
    assert chunk_text(f"{bold}\n       ls - list {under} names") == ["NAME\nls - list file names"]


def test_word_cached_counts_equal_the_tokenizer_on_whole_texts():
    """count_tokens sums per-word counts; the tokenizer on the whole text must agree, also where
    Python's split and BERT's whitespace differ (controls the normaliser deletes) and on repeats."""
    from core.memory.chunking import _tokenizer

    texts = ["Nero was emperor.\nHe (37-68 AD) ruled; Rome burned!", "a\x0bb c\x1cd e\x85f", "tab\there nb\u00a0sp",
             "zero\u200bwidth soft\u00adhyphen", "[MASK] foo[CLS]bar", "Ünïcödé café e\u0301t\u00e9 中文字符",
             "x" * 150 + " " + "y" * 99, "", "   \n ", bytes(range(1, 256)).decode("latin-1")]
    want = [len(e.ids) for e in _tokenizer().encode_batch(texts, add_special_tokens=False)]
    assert count_tokens(texts) == want
    assert count_tokens(texts[::-1]) == want[::-1]  # now from the word cache
    assert count_tokens([texts[0] + " " + texts[3]]) == [want[0] + want[3]]


def test_unmerged_paragraphs_that_skip_the_count_still_fit():
    """Without a target a short ASCII paragraph is kept uncounted (a word piece holds >= 1
    character); punctuation, one piece per character, is the tightest case of that bound."""
    for max_tokens in (8, 12, 24):
        budget = max_tokens - 2
        for n in range(budget - 2, budget + 3):
            paras = ["!" * (n - 2) + " !"]  # n characters, n - 1 pieces: cut in two once past the budget
            paras += ["!" * n, "x" * n, "a." * (n // 2), "\u00e9!" * (n // 2)] if n <= budget else []  # (one word)
            for para in paras:
                chunks = chunk_text(f"{para}\n\nok", max_tokens, None)
                assert max(count_tokens(chunks)) <= budget, (max_tokens, para)
                assert chunks[-1] == "ok" and "".join(chunks[:-1]).replace(" ", "") == para.replace(" ", "")


def test_text_without_spaces_is_cut_to_the_model_window():
    # Chinese has no spaces between words: a paragraph was one "word" of 740 word pieces, one chunk whose
    # text past 128 pieces was never embedded; it is cut within the limit (at its sentence ends), nothing lost
    zh = "杜甫是唐代著名的诗人，与李白合称李杜。他的诗歌反映了社会现实，被称为诗史。" * 20
    for text in (zh, zh.replace("。", "")):
        chunks = chunk_text(text)
        assert len(chunks) > 1
        assert max(count_tokens(chunks)) + 2 <= MAX_TOKENS
        assert "".join("".join(chunks).split()) == "".join(text.split())
    assert all(c.endswith("。") for c in chunk_text(zh)[:-1])
    # a base64 blob (an image inlined in Markdown) stays one chunk, not hundreds of junk chunks
    blob = "![logo](data:image/png;base64," + "iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB/+" * 60 + ")"
    assert any(blob in c for c in chunk_text(f"# Logo\n\n{blob}"))


def test_a_long_paragraph_without_sentence_ends_is_cut_in_linear_time(wiki_docs):
    # a speech transcript or a one-line export has no sentence ends: each piece's search joined every word up
    # to the paragraph's end: 200k words of WikiText without sentence ends (1.2 MB) took 60 s, now < 1 s; the
    # pieces are the same (checked against the old search on 96 texts)
    import re
    import time

    words = re.sub(r"[.!?;:]", " ", " ".join(s for d in wiki_docs for s in d.sentences)).split()[:200_000]
    text = " ".join(words)
    chunk_text("warm up the tokenizer", MAX_TOKENS, 96)
    t0 = time.perf_counter()
    chunk_text(" ".join(words[:25_000]), MAX_TOKENS, 96)
    t1 = time.perf_counter()
    chunks = chunk_text(text, MAX_TOKENS, 96)
    took, eighth = time.perf_counter() - t1, t1 - t0
    # 8x the words: ~8x the time if linear, ~64x if quadratic; the ratio holds on a loaded machine (7.4 s once)
    assert took < 5 or took < 24 * eighth, f"{took:.1f} s for {len(words)} words, {eighth:.2f} s for 25,000"
    assert " ".join(chunks).split() == words and max(count_tokens(chunks)) <= MAX_TOKENS
    # a zero-width word holds no word piece: a piece may hold more words than the budget
    zw = " ".join(["\u200b"] * 300 + ["word"] * 300)
    assert [len(c.split()) for c in chunk_text(zw, 64, 48)] == [362, 62, 62, 62, 52]  # as before


def _runs():
    """Whitespace-free runs past the long-word length: base64, a URL, punctuation only, one [UNK]-long letter
    run, accents, CJK (BMP and astral), astral punctuation, control characters."""
    import base64
    import random

    rnd = random.Random(5)
    return [base64.b64encode(rnd.randbytes(6000)).decode(), "https://ex.org/" + "/".join(
                f"{rnd.choice(['seg', 'Überweg', '東京', 'x' * 150])}{i}" for i in range(600)),
            "=" * 4500, "a" * 9000, "".join(rnd.choice("éèêaAbİß\u0301-_.") for _ in range(5000)),
            ("x" * 1500 + "\U00020001") * 4, ("y" * 1300 + "\U0001039F" + "\U0001F642" * 400) * 3,
            ("\x00" * 500 + "abc" * 50 + ".") * 8, "k" * 1030 + ",abc" * 1000]


def test_long_runs_are_counted_in_windows_exactly():
    # a 5 MB base64 line was tokenised whole: 14-27 s and ~1 GB for one count (the chunk stays the same)
    from core.memory._longruns import _LONG_CAP
    from core.memory.chunking import _LONG_WORD, _tokenizer

    tok = _tokenizer()
    for run in _runs():
        assert len(run) > _LONG_WORD
        full = len(tok.encode(run, add_special_tokens=False))
        got = count_tokens([run])[0]
        assert got == full if full <= _LONG_CAP else got > _LONG_CAP, (run[:40], full, got)
        assert count_tokens([f"see {run} here"])[0] == got + 2


def test_chunks_with_long_runs_are_those_of_the_whole_word_count(wiki_docs, monkeypatch):
    import core.memory.chunking as chunking

    runs = _runs()
    texts = []
    for i, doc in enumerate(wiki_docs[:6]):
        paras = [" ".join(doc.sentences[j:j + 3]) for j in range(0, min(len(doc.sentences), 30), 3)]
        paras.insert(len(paras) // 2, runs[i])  # a blob as a paragraph, another inside a sentence
        paras[1] += f" (data: {runs[-1 - i]}) and so on."
        texts.append("\n\n".join(paras))
    new = [chunk_text(t) for t in texts] + [chunk_text(t, max_tokens=64, target_tokens=None) for t in texts]
    monkeypatch.setattr(chunking, "_LONG_WORD", 1 << 40)  # every word tokenised whole, as before
    old = [chunk_text(t) for t in texts] + [chunk_text(t, max_tokens=64, target_tokens=None) for t in texts]
    assert new == old
    assert sum(len(c) for c in new) > 50


class _Longest:
    """The real tokenizer, noting the longest text it is given."""

    def __init__(self, tok):
        self.tok, self.longest = tok, 0

    def encode(self, text, **kw):
        self.longest = max(self.longest, len(text))
        return self.tok.encode(text, **kw)

    def encode_batch(self, texts, **kw):
        self.longest = max([self.longest, *map(len, texts)])
        return self.tok.encode_batch(texts, **kw)


def test_a_five_megabyte_run_stays_one_chunk_and_is_never_tokenised_whole(monkeypatch):
    # the tokenizer was given the whole 5 MB run: 14-27 s and ~1 GB to learn it holds more than 126 pieces
    import base64
    import random

    import core.memory.chunking as chunking

    spy = _Longest(chunking._tokenizer())
    monkeypatch.setattr(chunking, "_tokenizer", lambda: spy)
    blob = base64.b64encode(random.Random(1).randbytes(3_750_000)).decode()
    assert chunk_text(f"Intro line.\n\n{blob}\n\nOutro line.") == ["Intro line.", blob, "Outro line."]
    assert 0 < spy.longest <= chunking._WINDOW


def test_text_without_sentence_ends_cuts_as_the_whole_text_tokenizer_would(wiki_docs, monkeypatch):
    # _split_long packs words by their summed counts in one pass; the reference is the old search with every
    # window tokenised whole (what _SPLIT_UNSAFE text takes), on real articles and a Chinese run
    import re

    import core.memory.chunking as chunking

    rnd = __import__("random").Random(2)
    texts = [re.sub(r"[.!?;:]", "", " ".join(d.sentences[:120])) for d in wiki_docs[:2]]
    texts.append("".join(rnd.choice("東京は日本の首都である大阪京都한국어서울ひらがなカタカナ") for _ in range(6000)))
    texts.append(texts[0].replace(" the ", " \u200b the "))  # zero-width words hold no piece
    new = [chunk_text(t, m) for t in texts for m in (128, 64)]
    monkeypatch.setattr(chunking, "_SPLIT_UNSAFE", re.compile(""))
    old = [chunk_text(t, m) for t in texts for m in (128, 64)]
    assert new == old and len(new[4]) > 40


def test_a_long_chinese_run_is_never_tokenised_whole(monkeypatch):
    # a 1 MB run without sentence ends was tokenised whole to find its cuts: 10.3 s and ~600 MB
    import core.memory.chunking as chunking

    run = ("東京は日本の首都である大阪" * 2000)[:24000]
    before = chunk_text(run)
    spy = _Longest(chunking._tokenizer())
    monkeypatch.setattr(chunking, "_tokenizer", lambda: spy)
    assert chunk_text(run) == before and "".join(before) == run
    assert 0 < spy.longest <= chunking._WINDOW
    monkeypatch.setattr(chunking, "_LONG_WORD", 1 << 40)  # the whole run tokenised: the same cuts
    assert chunk_text(run) == before


def test_lines_ended_on_purpose_stay_lines_and_their_names_become_concepts():
    # joined into one line, a list of people was one name ('alice smith bob jones carol white'), or none
    from core.memory.phrases import extract_phrases

    listed = ("Attendees of the planning meeting in the library:\nAlice Smith\nBob Jones\nCarol White\n"
              "New York Times\nThe meeting ended at noon after a short discussion.\n")
    (chunk,) = chunk_text(listed)
    assert chunk.split("\n")[1:4] == ["Bob Jones", "Carol White", "New York Times"]
    assert {"alice smith", "bob jones", "carol white", "new york times"} <= set(extract_phrases(chunk))
    docx_like = "Attendees:\n\nAlice Smith\n\nBob Jones\n\nThe meeting ended at noon."  # a paragraph each
    assert {"alice smith", "bob jones"} <= set(extract_phrases(chunk_text(docx_like)[0]))
    # a paragraph wrapped at a width reads as one line, a lone long word (a URL) past the width too
    wrapped = ("The emperor Nerva adopted Trajan as his successor in the year 97, a choice\n"
               "that surprised the Senate and the army alike; see\n"
               "https://example.org/a/very/long/address/that/runs/past/the/width/of/the/text/x\n"
               "for Trajan was then the governor of Upper Germany, with no claim by birth.")
    assert chunk_text(wrapped) == [" ".join(wrapped.split())]
    by_hand = ("This is GNU Bash, version 5.2. Bash is the GNU Project's Bourne\n"  # lines of 62 to 71 columns
               "Again SHell, a complete implementation of the POSIX shell spec,\n"
               "large Unix-style man page.  The man page is the definitive description\nof the shell's features.")
    assert chunk_text(by_hand) == [" ".join(by_hand.split())]
    assert chunk_text("Alice Smith\nBob Jones\nCarol White") == ["Alice Smith\nBob Jones\nCarol White"]  # a list alone
    items = ("- no hard dependency on gtk-update-icon-cache any more, as asked in bug 739290 by Debian\n"
             "- missing icons needed for the High Contrast theme added, with the ones of the old theme\n"
             "- updated translations")
    assert chunk_text(items) == [items]  # items of full lines too


def test_a_two_row_table_keeps_a_line_a_row(tmp_path):
    # one short line reads as a wrap, so a table of a header and one row was one line: 'City | Pop Paris | 2.1M'
    from core.memory.readers import read_file

    (tmp_path / "t.html").write_text("<html><body><table><tr><th>City</th><th>Pop</th></tr>"
                                     "<tr><td>Paris</td><td>2.1M</td></tr></table></body></html>", encoding="utf-8")
    (tmp_path / "t.md").write_text("Sizes:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n", encoding="utf-8")
    for name, rows in (("t.html", ["City | Pop", "Paris | 2.1M"]), ("t.md", ["a | b", "1 | 2"])):
        (rec,) = read_file(tmp_path / name, [])
        assert chunk_text(rec.text)[0].split("\n")[-2:] == rows, name
    assert chunk_text("The toll is 3 | 4 euros\nby car.") == ["The toll is 3 | 4 euros by car."]  # a wrap stays one


def test_headings_without_text_of_their_own_join_the_text_that_follows():
    """A heading straight under a heading was a chunk of its own ('## Career' alone), embedded as little more than
    the title: it topped questions about the document and held nothing. At the end, headings join the text before."""
    text = "# Kershaw\n\nA pitcher.\n\n## Career\n\n### Minor leagues\n\nHe began in 2006.\n\n## See also\n\n## Notes"
    assert chunk_text(text) == ["# Kershaw\nA pitcher.",
                                "## Career\n### Minor leagues\nHe began in 2006.\n## See also\n## Notes"]
    assert chunk_text("# A\n\n## B\n\n### C") == ["# A\n## B\n### C"]  # headings only: one chunk, nothing lost
    assert chunk_text("## A\n\n## B\nUnder B.") == ["## A\n## B\nUnder B."]
    assert chunk_text("# A\n\n## B", target_tokens=None) == ["# A", "## B"]  # no merging asked: each alone
