"""``s2s app``: a Gradio page for one checkpoint.

A text model gets *Translate* (a sentence, its translation and the cross-attention heatmap behind
it); a speech model gets *Transcribe* (an uploaded or recorded file, its text and timed segments);
both get *Head report*: an ``s2s analyze`` report to browse (``--report DIR``), or, for a text
model, one made on the spot from sentences typed in. Decoding goes through the same front ends
as the CLI (:class:`~s2s.inference.translator.Translator`, :class:`~s2s.inference.transcriber.Transcriber`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

from s2s.checkpoint import LoadedModel
from s2s.inference.decoding_defaults import layered_options
from s2s.inference.transcriber import Transcriber
from s2s.serving.attention_view import MEAN, cross_attention_view, given_beam, text_side
from s2s.serving.head_report import HeadReport


def translate_tab(loaded: LoadedModel, beam: int | None, tgt_lang: str | None) -> None:
    layers = loaded.model.config.decoder_layers
    heads = [MEAN] + [str(h) for h in range(1, loaded.model.config.num_heads + 1)]
    side = text_side(loaded, beam=beam, tgt_lang=tgt_lang)
    with gr.Tab("Translate"):
        source = gr.Textbox(label="Sentence", lines=2, elem_id="source")
        with gr.Row():
            layer = gr.Dropdown([str(n) for n in range(1, layers + 1)], value=str(layers), label="Decoder layer")
            head = gr.Dropdown(heads, value=MEAN, label="Head")
        button = gr.Button("Translate", variant="primary", elem_id="translate")
        translation = gr.Textbox(label="Translation", interactive=False, elem_id="translation")
        heatmap = gr.Image(label="Cross-attention", type="filepath", interactive=False, elem_id="heatmap")

        def run(sentence: str, layer: str, head: str):
            if not sentence.strip():
                raise gr.Error("type a sentence first")
            view = cross_attention_view(side, sentence.strip(), layer=int(layer), head=head)
            return view.translation, str(view.heatmap)

        button.click(run, [source, layer, head], [translation, heatmap])
        source.submit(run, [source, layer, head], [translation, heatmap])


def transcribe_tab(loaded: LoadedModel, beam: int | None, tgt_lang: str | None) -> None:
    transcriber = Transcriber(loaded, options=layered_options(loaded, given_beam(beam)), target_lang=tgt_lang)
    with gr.Tab("Transcribe"):
        audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Audio file or recording")
        button = gr.Button("Transcribe", variant="primary", elem_id="transcribe")
        text = gr.Textbox(label="Text", interactive=False, elem_id="transcript")
        segments = gr.Dataframe(headers=["start (s)", "end (s)", "text"], label="Segments", interactive=False)

        def run(path: str | None):
            if not path:
                raise gr.Error("upload or record audio first")
            transcript = next(transcriber.transcribe_files([path]))
            if transcript.error:
                raise gr.Error(transcript.error)
            return transcript.text, [[s.start, s.end, s.text] for s in transcript.segments]

        button.click(run, [audio], [text, segments])


def report_tab(checkpoint: str, report: HeadReport | None, speech: bool) -> None:
    with gr.Tab("Head report"):
        state = gr.State(report)
        if not speech:
            with gr.Accordion("Make a report from sentences", open=report is None):
                lines = gr.Textbox(label="Sentences, one a line", lines=4)
                analyze = gr.Button("Analyze")
        choice = gr.Dropdown(report.choices() if report else [], label="Head", elem_id="head-choice")
        about = gr.Markdown()
        pictures = gr.Gallery(label="Its strongest examples", columns=3)

        def show(current: HeadReport | None, label: str | None):
            if current is None or not label:
                return "", []
            return current.show(label)

        choice.change(show, [state, choice], [about, pictures])
        if not speech:

            def make(text: str):
                from s2s.cli.analyze import run as analyze_run  # the CLI's report, as it writes it

                sentences = [line for line in text.splitlines() if line.strip()]
                if not sentences:
                    raise gr.Error("type at least one sentence")
                folder = Path(tempfile.mkdtemp(prefix="s2s-report-"))
                (folder / "input.txt").write_text("\n".join(sentences) + "\n", encoding="utf-8")
                analyze_run([checkpoint, "-i", str(folder / "input.txt"), "--out", str(folder / "report")])
                made = HeadReport(folder / "report")
                return made, gr.Dropdown(choices=made.choices(), value=made.choices()[0])

            analyze.click(make, [lines], [state, choice])


def build_app(
    checkpoint: str,
    loaded: LoadedModel,
    *,
    beam: int | None = None,
    tgt_lang: str | None = None,
    report: HeadReport | None = None,
) -> gr.Blocks:
    speech = loaded.model.config.encoder == "audio"
    with gr.Blocks(title=f"s2s: {Path(checkpoint).name}") as app:
        kind = "speech" if speech else "text"
        gr.Markdown(f"## s2s · {Path(checkpoint).name} ({kind} model, {loaded.info.task})")
        (transcribe_tab if speech else translate_tab)(loaded, beam, tgt_lang)
        report_tab(checkpoint, report, speech)
    return app
