import os
import pickle

import pytest
import torch

from s2s.checkpoint import export_checkpoint, load_checkpoint
from s2s.errors import CheckpointError
from s2s.model.info import CheckpointInfo
from s2s.model.seq2seq import Seq2Seq
from tests.conftest import tiny_config


@pytest.fixture
def exported(tmp_path, tokenizer):
    torch.manual_seed(0)
    model = Seq2Seq(tiny_config(vocab_size=tokenizer.vocab_size)).eval()
    path = tmp_path / "model.pt"
    export_checkpoint(model, tokenizer, CheckpointInfo(tgt_langs=("de",)), path)
    return model, path


def test_round_trip_is_exact(exported, tokenizer):
    model, path = exported
    loaded = load_checkpoint(path)
    source = torch.tensor([tokenizer.encode("A dog.") + [3]])
    target = torch.tensor([tokenizer.prefix("de")])
    lengths = torch.tensor([source.shape[1]])
    torch.testing.assert_close(loaded.model(source, lengths, target), model(source, lengths, target))
    assert loaded.tokenizer.model_bytes == tokenizer.model_bytes
    assert loaded.info == CheckpointInfo(tgt_langs=("de",))
    assert loaded.model.config == model.config


class RunsCode:
    def __reduce__(self):
        return (os.system, ("touch /tmp/s2s-pwned",))


def test_pickle_that_runs_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model_config": {}, "state_dict": {}, "payload": RunsCode()}, path)
    with pytest.raises(CheckpointError, match="refusing to load"):
        load_checkpoint(path)
    assert not os.path.exists("/tmp/s2s-pwned")


def test_plain_pickle_file_is_refused(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(RunsCode()))
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert not os.path.exists("/tmp/s2s-pwned")


@pytest.mark.parametrize("damage", ["truncate", "random", "empty", "not_s2s", "missing", "directory"])
def test_damaged_checkpoints_get_clear_errors(exported, tmp_path, damage):
    _, path = exported
    bad = tmp_path / "bad.pt"
    if damage == "truncate":
        bad.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "random":
        bad.write_bytes(os.urandom(4096))
    elif damage == "empty":
        bad.write_bytes(b"")
    elif damage == "not_s2s":
        torch.save({"weights": torch.zeros(3)}, bad)
    elif damage == "directory":
        bad.mkdir()
    with pytest.raises(CheckpointError, match=str(bad.name)):
        load_checkpoint(bad)


def test_info_of_earlier_checkpoints_with_a_decoding_entry_loads():
    """Checkpoints written before ``default_decoding`` carry a ``decoding`` entry (their validation decoding):
    it is dropped, not refused as unknown."""
    from s2s.model.info import CheckpointInfo

    info = CheckpointInfo.from_dict({"task": "translation", "tgt_langs": ["de"], "decoding": {"beam_size": 1}})
    assert info.tgt_langs == ("de",) and info.default_decoding == {}
