"""The tokenizer of an OpenAI Whisper model: byte-level BPE text tokens, then special and timestamp tokens.

Byte-level BPE (``tokenizer.json``, read with Hugging Face's ``tokenizers``), then ``<|endoftext|>``,
``<|startoftranscript|>``, one ``<|xx|>`` per language, the task tokens, ``<|notimestamps|>`` and 1501
timestamps (0.00 to 30.00 s by 0.02 s), which ``tokenizer.json`` need not list: the ids after
``<|notimestamps|>`` up to the model's ``vocab_size`` - 1. Every id from ``<|endoftext|>`` on is special.
English-only (``*.en``, 51864 ids) and multilingual models (51865; 51866 with ``<|yue|>``) place the
specials differently, so each is looked up by name. The interface is :class:`s2s.data.text.tokenizer.Tokenizer`'s.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path

import tokenizers

from s2s.data.text.generation_bans import GenerationBans
from s2s.data.text.pieces import WORD_BOUNDARY

KIND = "whisper"
TIME_STEP = 0.02  # seconds per timestamp token
TIMESTAMPS = 1501  # <|0.00|> .. <|30.00|>
TASKS = ("transcribe", "translate")
# Non-speech annotations ("[MUSIC]", "(laughs)", speaker tags, "♪♪"): the symbols whose tokens Whisper
# suppresses by default (OpenAI's suppress_tokens "-1"). Basic punctuation (, . ? ! ' -) stays.
NON_SPEECH = [*'"#()*+/:;<=>@[\\]^_`{|}~「」『』',
              *"<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪".split()]
# Several tokens each in some vocabularies; all start with the same two UTF-8 bytes (U+2640..U+267F),
# so their first token is suppressed however they are split.
MUSIC_SIGNS = "♩♪♫♬♭♮♯"


class WhisperTokenizer(GenerationBans):
    writes_lower_case = False  # Whisper writes cased, punctuated text

    def __init__(self, tokenizer_json: str, vocab_size: int) -> None:
        """``vocab_size``: the model's output size, which tells the layout (Whisper: multilingual iff >= 51865)."""
        self.tokenizer_json, self.vocab_size = tokenizer_json, int(vocab_size)
        self.source_vocab_size = self.vocab_size  # one vocabulary (the encoder reads audio)
        self.bpe = tokenizers.Tokenizer.from_str(tokenizer_json)
        self.bpe.encode_special_tokens = True  # "<|endoftext|>" typed in a transcript is text, not a control token
        self.multilingual = self.vocab_size >= 51865
        self.eos_id, self.bos_id, self.no_timestamps_id = (
            self._id(n) for n in ("endoftext", "startoftranscript", "notimestamps"))
        self.translate_id, self.transcribe_id, self.sot_lm_id, self.sot_prev_id = (
            self._id(n) for n in ("translate", "transcribe", "startoflm", "startofprev"))
        has_nospeech = self.bpe.token_to_id("<|nospeech|>") is not None  # <|nocaptions|> in older vocabularies
        self.no_speech_id = self._id("nospeech" if has_nospeech else "nocaptions")
        self.timestamp_begin_id = self.no_timestamps_id + 1
        if self.vocab_size - self.timestamp_begin_id != TIMESTAMPS:
            raise ValueError(f"vocab_size {self.vocab_size} leaves {self.vocab_size - self.timestamp_begin_id} "
                             f"timestamp ids after <|notimestamps|>; Whisper has {TIMESTAMPS} (0.00 to 30.00 s)")
        # Padding must never be a label nor a decoder input other than padding, and must differ from EOS:
        # s2s's loss ignores labels equal to pad_id, so pad == eos would never teach the model to stop.
        # <|startoflm|> starts text-only (language model) sequences, which transcription never uses.
        self.pad_id = self.sot_lm_id
        # Byte-level BPE spells any text with its 256 byte tokens: nothing is unknown and there is no
        # unknown token. None rather than a real id, so code that would write "unknown" fails loudly.
        self.unk_id = None

    def _id(self, name: str) -> int:
        token_id = self.bpe.token_to_id(f"<|{name}|>")
        if token_id is None:
            raise ValueError(f"tokenizer.json has no <|{name}|> token: it is not a Whisper tokenizer")
        return token_id

    @classmethod
    def from_folder(cls, path: str | Path, vocab_size: int | None = None) -> "WhisperTokenizer":
        """From ``tokenizer.json`` and, when there, CTranslate2's ``vocabulary.txt`` (every id, timestamps
        included), which gives the size and must agree; else ``vocab_size`` or ``config.json``'s (Hugging Face)."""
        folder = Path(path)
        vocab_file, config_file = folder / "vocabulary.txt", folder / "config.json"
        names = vocab_file.read_text(encoding="utf-8").rstrip("\n").split("\n") if vocab_file.exists() else None
        if vocab_size is None:
            vocab_size = len(names) if names is not None else (
                json.loads(config_file.read_text(encoding="utf-8")).get("vocab_size") if config_file.exists() else None)
        if vocab_size is None:
            raise ValueError(f"{folder} has no vocabulary.txt nor a config.json vocab_size: pass vocab_size")
        tokenizer = cls((folder / "tokenizer.json").read_text(encoding="utf-8"), vocab_size)
        if names is not None and names != [tokenizer.token_name(i) for i in range(tokenizer.vocab_size)]:
            raise ValueError(f"{vocab_file} does not list the tokens of tokenizer.json and the timestamps in id order")
        return tokenizer

    # ----- the Tokenizer interface -----------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Text -> text token ids, no specials. Whisper's training transcripts start with a space (" Hello"):
        the text is stripped and given one, so fine-tuning targets look like what the model learned to write."""
        return self.bpe.encode(spaced(text), add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.bpe.encode_batch([spaced(t) for t in texts], add_special_tokens=False)]

    def encode_target(self, text: str) -> list[int]:
        """A forced output prefix: the same ids as :meth:`encode` (one vocabulary)."""
        return self.encode(text)

    def decode(self, ids: Sequence[int]) -> str:
        """Ids -> stripped text (no leading space), dropping every special: ``<|endoftext|>`` and all ids after it."""
        return self.bpe.decode([int(i) for i in ids if 0 <= int(i) < self.eos_id]).strip()

    def is_special(self, token_id: int) -> bool:
        return token_id >= self.eos_id

    def piece(self, token_id: int) -> str:
        """``<|name|>`` for a special, else its text with spaces as SentencePiece's word-initial ``▁`` (which
        :mod:`s2s.data.text.pieces` reads; byte-level BPE writes ``Ġ``). Decoded by the byte-level decoder, a
        token holding part of a UTF-8 character (emoji are split) shows ``�`` for its incomplete bytes."""
        if self.is_special(token_id):
            return self.token_name(token_id)
        return self.bpe.decode([token_id]).replace(" ", WORD_BOUNDARY)

    def token_name(self, token_id: int) -> str:
        """The token as ``tokenizer.json`` (byte-level, ``Ġ``) or, for a timestamp, ``vocabulary.txt`` writes it."""
        if token_id in self.timestamp_ids:
            return f"<|{self.seconds(token_id):.2f}|>"
        if not 0 <= token_id < self.timestamp_begin_id:
            raise ValueError(f"token id {token_id} is outside the vocabulary (0..{self.vocab_size - 1})")
        return self.bpe.id_to_token(token_id)

    @functools.cached_property
    def tag_ids(self) -> frozenset[int]:
        """Every special id but EOS (prefix, task, language and timestamp tokens): never part of the output text."""
        return frozenset(range(self.eos_id + 1, self.vocab_size))

    @functools.cached_property
    def language_codes(self) -> dict[str, int]:
        """``xx`` -> id of ``<|xx|>``; empty for English-only models (which list the tokens, unused)."""
        if not self.multilingual:
            return {}
        return {self.bpe.id_to_token(i)[2:-2]: i for i in range(self.bos_id + 1, self.translate_id)}

    def prefix(self, target_lang: str | None, task: str | None = None, *, timestamps: bool = False,
               spoken_lang: str | None = None) -> list[int]:
        """``[<|startoftranscript|>, <|xx|>, <|task|>]`` (multilingual) + ``<|notimestamps|>``. ``<|xx|>`` is the
        spoken language and ``translate`` writes English, so a translation needs ``spoken_lang``; transcribing
        writes the spoken language (``target_lang``, default en)."""
        task = task or "transcribe"
        if task not in TASKS:
            raise ValueError(f"Whisper has no task {task!r}; choose one of {list(TASKS)}")
        ids = [self.bos_id]
        if self.multilingual:
            ids += [self._language_id(target_lang, task, spoken_lang),
                    self.translate_id if task == "translate" else self.transcribe_id]
        elif {target_lang or "en", spoken_lang or "en"} != {"en"} or task != "transcribe":
            raise ValueError(f"an English-only Whisper model only transcribes English (asked to {task} "
                             f"{spoken_lang or 'en'} into {target_lang or 'en'})")
        return ids if timestamps else ids + [self.no_timestamps_id]

    def _language_id(self, target_lang: str | None, task: str, spoken_lang: str | None) -> int:
        if task == "translate" and (target_lang or "en") != "en":
            raise ValueError(f"Whisper translates into English only, not {target_lang!r}")
        if task == "translate" and spoken_lang is None:
            raise ValueError("a Whisper translation prefix names the spoken language: pass spoken_lang")
        if task == "transcribe" and None not in (target_lang, spoken_lang) and target_lang != spoken_lang:
            raise ValueError(f"transcribing {spoken_lang!r} speech writes {spoken_lang!r}, not {target_lang!r}")
        code = spoken_lang or target_lang or "en"
        if code not in self.language_codes:
            raise ValueError(f"this Whisper model has no language {code!r}")
        return self.language_codes[code]

    # ----- timestamps and suppressed tokens -------------------------------------------------------
    @property
    def timestamp_ids(self) -> range:
        return range(self.timestamp_begin_id, self.vocab_size)

    def seconds(self, token_id: int) -> float:
        return round((token_id - self.timestamp_begin_id) * TIME_STEP, 2)

    def timestamp_id(self, seconds: float) -> int:
        token_id = self.timestamp_begin_id + round(seconds / TIME_STEP)
        if token_id not in self.timestamp_ids:
            raise ValueError(f"no timestamp token for {seconds} s (0 to 30 s)")
        return token_id

    def decode_with_timestamps(self, ids: Sequence[int]) -> list[tuple[float, float, str]]:
        """``(start s, end s, text)`` of each segment of an output decoded with timestamps.

        Whisper writes ``<|start|> text <|end|>`` per segment, one's end and the next one's start side by
        side, a single timestamp after the last. Text after a start with no end (cut off at the window's
        end: Whisper decodes that audio again) or before the first timestamp makes no segment. Times are
        within the 30 s window; other specials are left out.
        """
        stamps = self.timestamp_ids
        ids = [int(i) for i in ids if int(i) < self.eos_id or int(i) in stamps]
        segments, chunk = [], []
        for i, token in enumerate(ids):
            chunk.append(token)
            if i + 1 < len(ids) and not (token in stamps and ids[i + 1] in stamps):
                continue
            times = [t for t in chunk if t in stamps]
            if len(times) >= 2 and chunk[-1] in stamps:
                start = chunk.index(times[0])
                segments.append((self.seconds(times[0]), self.seconds(chunk[-1]), self.decode(chunk[start:])))
            chunk = []
        return segments

    @functools.cached_property
    def suppress_ids(self) -> tuple[int, ...]:
        """Tokens of non-speech annotations: Whisper's default suppressed text tokens, found as OpenAI does.
        Its decoder also suppresses ``<|startoftranscript|>``, the task tokens, ``<|startoflm|>``, ``<|startofprev|>``
        and ``<|nospeech|>`` (a converted model's ``suppress_ids`` lists them too): all in :attr:`tag_ids`."""
        first = {self._raw(" -")[0], self._raw(" '")[0]}  # "-" and "'" stay inside words, not starting one
        for symbol in NON_SPEECH + list(MUSIC_SIGNS):
            for tokens in (self._raw(symbol), self._raw(" " + symbol)):
                if len(tokens) == 1 or symbol in MUSIC_SIGNS:
                    first.add(tokens[0])
        return tuple(sorted(first))

    @property
    def suppress_at_start(self) -> list[int]:
        """Suppressed as the first output token: a lone space and EOS (Whisper's ``suppress_blank``)."""
        return [*self._raw(" "), self.eos_id]

    @property
    def non_speech_ids(self) -> tuple[int, ...]:
        return self.suppress_ids

    @property
    def never_first(self) -> tuple[int, ...]:
        return tuple(self.suppress_at_start)

    @functools.cached_property
    def never_generated_timestamped(self) -> tuple[int, ...]:
        """:attr:`never_generated` for an output with timestamps: the timestamp tokens stay allowed."""
        stamps = set(self.timestamp_ids)
        return tuple(i for i in self.never_generated if i not in stamps)

    def _raw(self, text: str) -> list[int]:
        return self.bpe.encode(text, add_special_tokens=False).ids

    def state(self) -> dict:
        """Plain data for a checkpoint (``torch.load(weights_only=True)`` can read it back)."""
        return {"kind": KIND, "tokenizer_json": self.tokenizer_json, "vocab_size": self.vocab_size}

    @classmethod
    def from_state(cls, state: dict) -> "WhisperTokenizer":
        if state.get("kind") != KIND:
            raise ValueError(f"not a Whisper tokenizer state (kind {state.get('kind')!r})")
        return cls(state["tokenizer_json"], state["vocab_size"])


def spaced(text: str) -> str:
    """Text as Whisper saw it in training: one leading space, no other surrounding whitespace ("" stays "")."""
    text = text.strip()
    return " " + text if text else ""
