import pytest

from s2s.data.tokenizer import BOS, EOS, PAD, UNK, Tokenizer


def test_special_ids_and_tags(tokenizer):
    assert (tokenizer.pad_id, tokenizer.unk_id, tokenizer.bos_id, tokenizer.eos_id) == (PAD, UNK, BOS, EOS)
    de = tokenizer.tag_id("<2de>")
    assert tokenizer.prefix("de") == [BOS, de]
    assert tokenizer.prefix("de", task="translate") == [BOS, tokenizer.tag_id("<translate>"), de]
    assert de in tokenizer.tag_ids and len(tokenizer.tag_ids) == 6
    with pytest.raises(ValueError, match="no tag"):
        tokenizer.tag_id("<2xx>")


def test_round_trip_and_specials_dropped(tokenizer):
    text = "Ein Mann fährt Fahrrad."
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert tokenizer.decode(tokenizer.prefix("de") + ids + [EOS, PAD]) == text
    assert "<2de>" not in tokenizer.decode(tokenizer.encode("<2de> Hallo"))


def test_bytes_round_trip(tokenizer):
    again = Tokenizer(tokenizer.model_bytes)
    assert again.encode("A dog runs.") == tokenizer.encode("A dog runs.")
