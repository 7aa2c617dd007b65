"""Transcribe (or translate) audio with a loaded speech checkpoint.

Long recordings are cut into overlapping windows (``window`` seconds, consecutive windows
sharing ``overlap`` seconds), every window of every file is decoded in length-sorted
batches, and each file's windows are merged back: the words that the end of one window and
the start of the next both heard are kept once. Each window gives one timed segment.

Whisper models read the same overlapping windows, 30 s long (what their encoder holds), not
Whisper's own sequential seeking, where each window starts at the last timestamp of the one
before: fixed windows let every window of every file be decoded in one batch. An imported
Whisper model reads each window padded with silence to 30 s, as it was trained; a model
fine-tuned at real length (``pad_seconds`` null in its checkpoint) reads it as it is. With
``timestamps``, a Whisper model writes timestamp tokens and each of its segments is timed by
them; a segment is kept by the window that holds its middle best, away from the shared audio.

With voice-activity segmentation (``vad``; by default for recordings longer than a window) the
windows are the recording's speech instead, packed up to the window's length where people pause
(``s2s.inference.vad``): no window overlaps another, silence is never decoded, and every time is
mapped back to the recording. ``no_speech`` drops the text of windows a Whisper model calls
silence (``s2s.inference.no_speech``); ``word_timestamps`` times every word (``s2s.inference.word_timing``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import torch
from torch import Tensor

from s2s.checkpoint import LoadedModel
from s2s.data.batching import TokenBudgetBatchSampler
from s2s.data.speech.audio import FRAMES_PER_SECOND, SAMPLE_RATE, load_audio
from s2s.data.speech.dataset import pad_features, task_tag
from s2s.data.speech.features import feature_extractor, pad_or_trim
from s2s.data.text.whisper_tokenizer import WhisperTokenizer
from s2s.decoding import DecodingOptions
from s2s.decoding.filters import LogitFilter, TimestampRules
from s2s.decoding.lm_fusion import NGramFusion
from s2s.errors import AudioError
from s2s.inference.no_speech import NoSpeechRule, no_speech_probs
from s2s.inference.search_front import PromptedSearch, target_language
from s2s.inference.segments import Decoded, Segment, Transcript, shift_words, vad_segments, words_within
from s2s.inference.vad import VadOptions, VadWindow, vad_windows
from s2s.inference.windows import merge_texts, windows
from s2s.inference.word_timing import WordTimer
from s2s.model.audio_encoder import AudioEncoder
from s2s.model.info import CheckpointInfo

DEFAULT_WINDOW = 20.0  # seconds, for models trained on utterances at their own length


class Transcriber:
    def __init__(
        self,
        loaded: LoadedModel,
        *,
        options: DecodingOptions,
        target_lang: str | None = None,
        task: str | None = None,
        language: str | None = None,
        timestamps: bool = False,
        window: float | None = None,
        overlap: float = 2.0,
        max_frames: int = 30000,
        device: str = "cpu",
        dtype: torch.dtype = torch.float32,
        workers: int = 1,
        vad: bool | None = None,
        vad_options: VadOptions = VadOptions(),
        no_speech: NoSpeechRule | None = None,
        word_timestamps: bool = False,
        lm: str | Path | None = None,
        lm_weight: float = 0.3,
    ) -> None:
        """``window``: seconds decoded at once (default: 30 for Whisper, else 20 or what the encoder holds).
        ``language``: the spoken language, for a multilingual Whisper model. ``workers``: on a CPU, decode
        each batch of windows with this many single-threaded workers (``s2s.decoding.parallel``).
        ``vad``: windows from voice activity (None: for recordings longer than a window only). ``lm``: an
        ARPA or kenlm binary n-gram model over the model's pieces, fused with ``lm_weight``
        (``s2s.decoding.lm_fusion``)."""
        if loaded.model.config.encoder != "audio":
            raise ValueError("this checkpoint is a text model: use `s2s translate`")
        self.model = loaded.model.to(device=device, dtype=dtype).eval()
        self.tokenizer, self.device, self.dtype = loaded.tokenizer, device, dtype
        config, info = self.model.config, loaded.info
        self.features_of = feature_extractor(config.features, config.feature_dim)
        self.pad_seconds = info.pad_seconds
        self.timestamps = timestamps
        rules: list[LogitFilter] = []
        if timestamps and isinstance(self.tokenizer, WhisperTokenizer):  # other models: _prefix refuses timestamps
            rules.append(
                TimestampRules(
                    self.tokenizer.timestamp_begin_id, self.tokenizer.eos_id, self.tokenizer.no_timestamps_id
                )
            )
        if lm is not None:
            # before the CTC score, which weighs what it is given by (1 - ctc_weight): divided here, the
            # LM enters the final score with lm_weight itself, as in ESPnet's weighted sum of scorers
            rules.append(
                NGramFusion(
                    lm, self.tokenizer, lm_weight / (1 - options.ctc_weight), candidates=max(2 * options.beam_size, 8)
                )
            )
        self.search = PromptedSearch(
            self.model,
            self.tokenizer,
            options,
            self._prefix(info, target_lang, task, language),
            timestamps=timestamps,
            rules=rules,
            workers=workers,
            device=device,
        )
        # A window must fit the encoder's positions after subsampling.
        assert isinstance(self.model.encoder, AudioEncoder)  # config.encoder is "audio" (checked above)
        capacity = self.model.encoder.subsample.frames_needed(config.source_positions[1]) / FRAMES_PER_SECOND
        if window is None:
            window = self.pad_seconds or min(DEFAULT_WINDOW, capacity)
        if not 0 <= overlap < window:
            raise ValueError(f"the overlap ({overlap} s) must be shorter than the window ({window} s)")
        if window > min(capacity, self.pad_seconds or capacity):
            raise ValueError(
                f"--window {window} s exceeds what this model can encode at once "
                f"({min(capacity, self.pad_seconds or capacity):.1f} s)"
            )
        self.window, self.overlap, self.max_frames = window, overlap, max_frames
        self.vad, self.vad_options = vad, vad_options
        if no_speech is not None and info.whisper is None:
            raise ValueError(
                "--no-speech-threshold needs a Whisper model (its <|nospeech|> token); "
                "for other models voice-activity segmentation (--vad) keeps silence out"
            )
        self.no_speech = no_speech
        self.word_timer = WordTimer(self.model, self.tokenizer, self.prefix, info) if word_timestamps else None

    @property
    def prefix(self) -> list[int]:
        return self.search.prefix

    def _prefix(
        self, info: CheckpointInfo, target_lang: str | None, task: str | None, language: str | None
    ) -> list[int]:
        if info.whisper is not None:
            # Whisper's prefix names the spoken language; translating writes English.
            assert isinstance(self.tokenizer, WhisperTokenizer)  # a Whisper checkpoint carries Whisper's tokenizer
            task = task or info.task_tag or "transcribe"
            language = language or target_lang if task == "transcribe" else language
            if language is None and self.tokenizer.multilingual:
                raise ValueError("this Whisper model is multilingual: name the spoken language with --language")
            return self.tokenizer.prefix(
                "en" if task == "translate" else language, task, timestamps=self.timestamps, spoken_lang=language
            )
        if self.timestamps:
            raise ValueError(
                "--timestamps needs a Whisper model (timestamp tokens); this model's segments are its windows"
            )
        if language is not None:
            raise ValueError(
                "--language names the spoken language of a multilingual Whisper model; "
                "this model reads one language (choose what it writes with --tgt-lang)"
            )
        target_lang = target_language(info.languages, target_lang, writes="writes")
        tag = task_tag(task or info.task_tag, target_lang, info.src_lang)
        return self.tokenizer.prefix(target_lang, tag)

    def transcribe_files(self, paths: Iterable[str | Path], batch_files: int = 16) -> Iterator[Transcript]:
        """One :class:`Transcript` per path, in order; a file that cannot be read gets ``error`` set."""
        group: list[tuple[str, Tensor | None, str | None]] = []
        for path in paths:
            try:
                group.append((str(path), load_audio(path), None))
            except AudioError as error:
                group.append((str(path), None, str(error)))
            if len(group) == batch_files:
                yield from self.transcribe_group(group)
                group = []
        if group:
            yield from self.transcribe_group(group)

    def transcribe_group(self, group: list[tuple[str, Tensor | None, str | None]]) -> list[Transcript]:
        waves = [wave for _, wave, _ in group if wave is not None]
        results = iter(self.transcribe_waves(waves))
        return [
            Transcript(path, error=error) if wave is None else _with_path(next(results), path)
            for path, wave, error in group
        ]

    def plan(self, wave: Tensor) -> tuple[bool, list[VadWindow]]:
        """Whether ``wave (N,)`` is cut by voice activity, and its windows (fixed ones have a single piece)."""
        use_vad = self.vad if self.vad is not None else wave.numel() > self.window * SAMPLE_RATE
        if use_vad:
            return True, vad_windows(wave, self.vad_options, self.window)
        return False, [VadWindow(((s, e),)) for s, e in windows(wave.numel(), self.window, self.overlap)]

    def transcribe_waves(self, waves: list[Tensor]) -> list[Transcript]:
        """16 kHz mono waveforms ``(N,)`` -> transcripts (windows of all of them decoded together)."""
        plans = [self.plan(w) for w in waves]
        chunks = [(i, window) for i, (_, file_windows) in enumerate(plans) for window in file_windows]
        outputs = self.decode_chunks(
            [self.window_features(window.audio(waves[i])) for i, window in chunks],
            [window.samples / SAMPLE_RATE for _, window in chunks],
        )
        by_file: list[list[tuple[VadWindow, Decoded]]] = [[] for _ in waves]
        for (i, window), decoded in zip(chunks, outputs):
            by_file[i].append((window, decoded))
        transcripts = []
        for wave, (by_vad, _), file_decoded in zip(waves, plans, by_file):
            duration = wave.numel() / SAMPLE_RATE
            if by_vad:
                segments = vad_segments(file_decoded, self.tokenizer, self.timestamps)
            else:
                fixed = [(w.pieces[0][0], w.pieces[0][1], d) for w, d in file_decoded]
                segments = (self.timed_segments if self.timestamps else self.window_segments)(fixed, duration)
            text = " ".join(s.text for s in segments if s.text)
            transcripts.append(Transcript("", text, segments, round(duration, 3)))
        return transcripts

    def window_features(self, wave: Tensor) -> Tensor:
        if self.pad_seconds:
            wave = pad_or_trim(wave, round(self.pad_seconds * SAMPLE_RATE))
        return self.features_of(wave)  # (F, feature_dim)

    def window_segments(self, pieces: list[tuple[int, int, Decoded]], duration: float) -> list[Segment]:
        """One segment per window, its words that the window before also heard dropped (timed words: those
        whose middle lies in the window's own part, away from the audio it shares)."""
        parts = merge_texts([self.tokenizer.decode(d.tokens) for _, _, d in pieces])
        half = self.overlap / 2
        segments = []
        for n, ((s, e, decoded), part) in enumerate(zip(pieces, parts)):
            # Consecutive windows overlap: each segment ends halfway through the shared audio.
            start = s / SAMPLE_RATE + (half if n > 0 else 0.0)
            end = e / SAMPLE_RATE - (half if n < len(pieces) - 1 else 0.0)
            words = shift_words(decoded.words, lambda t, offset=s / SAMPLE_RATE: offset + t)
            segments.append(Segment(round(start, 2), round(end, 2), part, words_within(words, start, end)))
        return segments

    def timed_segments(self, pieces: list[tuple[int, int, Decoded]], duration: float) -> list[Segment]:
        """The segments a Whisper model timed, each kept by the window whose own part holds its middle."""
        assert isinstance(self.tokenizer, WhisperTokenizer)  # timestamps: only a Whisper prefix allows them
        half, segments = self.overlap / 2, []
        for n, (s, e, decoded) in enumerate(pieces):
            offset = s / SAMPLE_RATE
            own_start = offset + (half if n > 0 else 0.0)
            own_end = e / SAMPLE_RATE - half if n < len(pieces) - 1 else float("inf")
            words = shift_words(decoded.words, lambda t, offset=offset: offset + t)
            for start, end, text in self.tokenizer.decode_with_timestamps(decoded.tokens):
                start, end = offset + start, min(offset + end, duration)
                if own_start <= (start + end) / 2 < own_end:
                    inside = words_within(words, start, end)
                    segments.append(Segment(round(start, 2), round(end, 2), text.strip(), inside))
        return segments

    def decode_chunks(self, features: list[Tensor], seconds: list[float] | None = None) -> list[Decoded]:
        """Each window's output tokens (timestamps among them when asked for), log-probability and words
        (``seconds``: each window's audio before any padding)."""
        outputs = [Decoded([]) for _ in features]
        lengths = [(f.shape[0], f.shape[0]) for f in features]
        if not lengths:
            return outputs
        budget = max(self.max_frames, max(n for n, _ in lengths))
        for batch in TokenBudgetBatchSampler(lengths, max_tokens=budget, shuffle=False):
            source, source_lengths = pad_features([features[i] for i in batch])  # (B, F, feature_dim)
            source, source_lengths = source.to(self.device, self.dtype), source_lengths.to(self.device)
            hyps = self.search(source, source_lengths)
            decoded = [Decoded(list(h[0].tokens), h[0].logprob) if h else Decoded([]) for h in hyps]
            if self.no_speech is not None:
                decoded = self.drop_no_speech(source, source_lengths, decoded)
            if self.word_timer is not None:
                words = self.word_timer.words(
                    source,
                    source_lengths,
                    [d.tokens for d in decoded],
                    None if seconds is None else [seconds[i] for i in batch],
                )
                decoded = [replace(d, words=tuple(w)) for d, w in zip(decoded, words)]
            for i, d in zip(batch, decoded):
                outputs[i] = d
        return outputs

    def drop_no_speech(self, source: Tensor, source_lengths: Tensor, decoded: list[Decoded]) -> list[Decoded]:
        """Empty the outputs of the unsure windows whose <|nospeech|> probability is above the threshold."""
        # called with a rule only, which __init__ allows for Whisper models alone
        assert self.no_speech is not None and isinstance(self.tokenizer, WhisperTokenizer)
        unsure = [n for n, d in enumerate(decoded) if d.tokens and self.no_speech.unsure(d.tokens, d.logprob)]
        if not unsure:
            return decoded
        index = torch.tensor(unsure, device=source.device)
        probs = no_speech_probs(
            self.model, source[index], source_lengths[index], self.tokenizer.bos_id, self.tokenizer.no_speech_id
        ).tolist()
        silent = {n for n, p in zip(unsure, probs) if p > self.no_speech.threshold}
        return [Decoded([], d.logprob) if n in silent else d for n, d in enumerate(decoded)]


def _with_path(transcript: Transcript, path: str) -> Transcript:
    transcript.path = path
    return transcript
