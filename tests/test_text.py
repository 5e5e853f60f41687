from core.text import detokenize_wikitext, split_sentences


def test_split_sentences_keeps_abbreviations_and_initials():
    text = "Dr. Smith went to Washington. He met J. R. Tolkien there! Did it rain? Yes, in 1999."
    assert split_sentences(text) == [
        "Dr. Smith went to Washington.",
        "He met J. R. Tolkien there!",
        "Did it rain?",
        "Yes, in 1999.",
    ]


def test_split_sentences_empty():
    assert split_sentences("   ") == []


def test_detokenize_wikitext():
    raw = ' The ship , built in 1 @,@ 912 , was 2 @.@ 5 km long ( about " big " ) and isn \'t old . '
    assert detokenize_wikitext(raw) == 'The ship, built in 1,912, was 2.5 km long (about " big ") and isn\'t old.'
