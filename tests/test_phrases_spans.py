"""Where a capitalised span's names begin and end (core.memory._spans, via extract_phrases).

A memory of 145 Brown texts had 'don t' in 25 chunks, 'you re' in 21 and ~100 concepts led by a sentence's
opening adverb ('now richards', 'even norway'); "Born in Rome" was one concept, so the place was lost.
The sentences are real: Brown (de-tagged, as core.datasets reads it) and the multi-hop passages."""
from __future__ import annotations

from core.memory.phrases import extract_phrases, query_phrases, title_phrase


def test_contractions_are_no_concept_nor_a_part_of_one():
    got = extract_phrases("\"Don't you worry.\" You're right, We'll see. They're here. Now Richards is a "
                          "manager. How's Scotty?")
    assert got == ["richards", "scotty"]
    brown = ['" You\'re wrong ", said Arnold, a man who knows the rules.', "Don't ask him more.",
             '" We\'ll have the problem of baseball at one end and weather at the other ".',
             "Don\u2019t overlook the straws this year.", "It's Tom, and I'm sure Mary's dog knows it."]
    assert [extract_phrases(s) for s in brown] == [["arnold"], [], [], [], ["tom", "mary"]]  # a possessive stays


def test_an_adverb_opening_a_sentence_is_no_part_of_a_name():
    assert extract_phrases("Even Norway voted. Again Katie laughed. Like Herbert, he left.") == \
        ["norway", "katie", "herbert"]
    assert extract_phrases("Now Richards, of course, is known as a deep thinker as baseball managers go.") == ["richards"]
    got = extract_phrases('Yet your editorial said: " Now the Attorney General writes that no considerations '
                          "' justify any loss of revenue of this proportion ' \".")
    assert got == ["attorney general"]  # a quoted sentence after a colon opens a sentence too
    # mid-sentence such a word opens a title; a name's own first word stays at a sentence's start
    assert extract_phrases("Lady Gaga released the single Just Dance in 2008.") == ["lady gaga", "just dance"]
    assert extract_phrases("New York was quiet. Moreover, General Motors left.") == ["new york", "general motors"]


def test_a_ly_adverb_opening_a_sentence_before_a_comma_is_no_concept():
    text = ("Additionally, the band toured. Lyrically , it is dark. Italy, Spain and Greece signed. "
            "He wrote it additionally. Sicily, like Malta, is an island. Connally won in Lyrically.")
    got = extract_phrases(text)
    assert "additionally" not in got
    # short names opening a sentence stay; mid-sentence the word is a name as before
    assert {"italy", "spain", "greece", "sicily", "malta", "connally", "lyrically"} <= set(got)


def test_a_place_after_in_or_at_is_a_concept_of_its_own():
    got = extract_phrases("Born in Rome, De Martino started as a child actor and later returned to the cinema.")
    assert got == ["rome", "de martino"]
    got = extract_phrases("He was a professor at Columbia University in New York and met Castro in Cuba.")
    assert got == ["columbia university", "new york", "castro", "cuba"]
    # "for" and "on" join one name as often as two: the whole and its parts
    got = extract_phrases("The latter also earned him a nomination for the Academy Award for Best Director.")
    assert got == ["academy award for best director", "academy award", "best director"]
    # names built with of/von/upon stay whole
    got = extract_phrases("Bank of America funds the University of California near the Statue of Liberty; "
                          "Geza von Cziffra was born in Stratford-upon-Avon.")
    assert got == ["bank of america", "university of california", "statue of liberty", "geza von cziffra",
                   "stratford-upon-avon"]


def test_titles_and_queries_meet_the_names_as_extracted():
    # a title is named as the text names it: "starred in You've Got Mail" gives 'got mail'
    assert title_phrase("You've Got Mail") == "got mail" and "got mail" in extract_phrases(
        "Tom Hanks starred in You've Got Mail.")
    assert title_phrase("It's a Wonderful Life") == "wonderful life" and title_phrase("Don't") == "don t"
    # a query still reaches a title the memory holds whole, though extraction splits or trims it
    assert query_phrases("Who directed Last Tango in Paris?", {"last tango in paris"}) == \
        ["last tango", "paris", "last tango in paris"]
    song = title_phrase("It'll Be Me")  # a title that is only function words keeps them
    assert song and song in query_phrases("Who played the It'll Be Me singer in Walk the Line?", {song})


def test_prose_wrapped_at_a_lines_end_gives_no_command_terms():
    text = ("Permission is hereby granted, free of charge, to any person to deal in the Software and to\n"
            "sell copies of the Software, and to permit persons to whom it is\n"
            "furnished to do so. The results of the survey would\n"
            "appear as patterns in the data.\n"
            "grep searches the named input files.\n\n"
            "DESCRIPTION\n"
            "sed edits streams.")
    got = extract_phrases(text)
    assert not {"sell", "furnished", "appear"} & set(got)
    # a command opening a line after a finished sentence, a blank line or a heading is still a term
    assert {"grep", "sed"} <= set(got)


def test_names_opening_with_a_capital_beyond_latin_1_are_concepts():
    got = extract_phrases("Łódź is a city. Karel Čapek wrote plays. Slavoj Žižek visited Ōita Prefecture "
                          "and met Дмитрий Медведев.")
    # folded as every concept is: accents off, so a query written either way meets them
    assert {"łodz", "karel capek", "slavoj zizek", "oita prefecture"} <= set(got)
    assert any(p.startswith("дмитри") for p in got)
    assert "karel" not in got and "slavoj" not in got  # the whole name, not its first word


def test_a_concept_is_a_whole_word_shown_without_the_punctuation_around_it():
    """'s-food' of "devil's-food" was a term, and the why text showed 'T8.0).' and 'ArrayBufferView`s' (Brown, the
    WikiText Dvorak article, Node.js' docs): a concept shows as whole words, without trailing punctuation or quotes."""
    from core.memory.phrases import written_as

    assert extract_phrases("I dug around and found a devil's-food cake with chocolate icing.") == []
    assert extract_phrases("Run 'ssh-keygen' or \u2018ssh-keygen\u2019 first.") == ["ssh-keygen"]
    text = "The patterns are curved band pattern (T1.0-T4.5), shear pattern (T1.5-T3.5), and eye pattern (T4.5 - T8.0)."
    assert written_as("t8 0", text) == "T8.0" and written_as("t4 5", text) == "T4.5"
    assert written_as("arraybufferview", "Values are `ArrayBufferView`s or strings.") == "ArrayBufferView"
    assert written_as("bar baz", "foo/Bar Baz.") == "Bar Baz"
    assert written_as("u s army", "He joined the U.S. Army.") == "U.S. Army"
    assert [written_as("u s", "in the U.S. today"), written_as("du fu", "Du Fu's poems")] == ["U.S.", "Du Fu"]
