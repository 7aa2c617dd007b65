import pytest

from s2s.data.text.tokenizer import BOS, EOS, PAD, UNK, Tokenizer


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


def test_sampled_segmentations_decode_to_the_text_and_repeat_under_a_seed(tokenizer):
    texts = ["Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche.",
             "Several men in hard hats are operating a giant pulley system."] * 20
    tokenizer.seed_sampling(7)
    first = tokenizer.sample_batch(texts, alpha=0.3)
    tokenizer.seed_sampling(7)
    assert tokenizer.sample_batch(texts, alpha=0.3) == first
    tokenizer.seed_sampling(8)
    assert tokenizer.sample_batch(texts, alpha=0.3) != first
    assert [tokenizer.decode(ids) for ids in first] == texts  # another segmentation of the same text
    best = tokenizer.encode_batch(texts)
    assert any(ids != best[i] for i, ids in enumerate(first))
    assert len({tuple(ids) for ids in first[0::2]}) > 1  # the same sentence, segmented differently
