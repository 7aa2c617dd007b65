"""``s2s``: dispatches to one module per subcommand and turns user errors into one line."""

from __future__ import annotations

import importlib
import os
import sys

from s2s.errors import S2SError

COMMANDS = {
    "train": ("s2s.cli.train", "train a model (Hydra overrides follow, e.g. experiment=smoke)"),
    "prepare": ("s2s.cli.prepare", "fetch or copy a corpus and train its tokenizer"),
    "translate": ("s2s.cli.translate", "translate text with a checkpoint (stdin to stdout)"),
    "transcribe": ("s2s.cli.transcribe", "transcribe or translate audio files with a speech checkpoint"),
    "evaluate": ("s2s.cli.evaluate", "score a checkpoint on a test set (BLEU, chrF, TER; WER, CER for speech)"),
    "average": ("s2s.cli.average", "average the weights of several checkpoints"),
    "analyze": ("s2s.cli.analyze", "the attention-head report: what every head attends to"),
    "prune": ("s2s.cli.prune", "remove attention heads from a checkpoint (smaller projections)"),
    "serve": ("s2s.cli.serve", "an HTTP API for a checkpoint, batching requests from many clients (LitServe)"),
    "app": ("s2s.cli.app", "a browser page: translate with heatmaps, transcribe, browse the head report (Gradio)"),
    "import": ("s2s.cli.importer", "convert a Marian (OPUS-MT) or Whisper model to an s2s checkpoint"),
    "export": ("s2s.cli.export", "write a model for onnxruntime or CTranslate2 (deploy without PyTorch)"),
}

USAGE = (
    "usage: s2s <command> [options]\n\ncommands:\n"
    + "".join(f"  {name:<10} {summary}\n" for name, (_, summary) in COMMANDS.items())
    + "\nRun `s2s <command> --help` for a command's options."
)


def fail(message: str, code: int = 2) -> None:
    print(f"s2s: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        raise SystemExit(0 if argv else 2)
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        fail(f"unknown command {name!r}\n{USAGE}")
    os.environ.setdefault("WANDB_MODE", "offline")  # never ask for an API key unless told to go online
    module = importlib.import_module(COMMANDS[name][0])
    try:
        module.run(rest)
    except S2SError as error:
        fail(str(error))
    except ValueError as error:
        fail(str(error))
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (e.g. `| head`): not an error of ours
        raise SystemExit(0) from None
    except OSError as error:  # a file the user named cannot be opened, read or written
        where = f"{error.filename}: " if error.filename else ""
        fail(f"{where}{error.strerror or error}", 1)


if __name__ == "__main__":
    main()
