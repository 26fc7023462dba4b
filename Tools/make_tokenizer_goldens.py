#!/usr/bin/env python3
"""Write the CLIP tokenizer goldens used by Tests/CLIPTests/TokenizerTests.swift.

Reads Tests/CLIPTests/Fixtures/tokenizer-corpus.txt (UTF-8, one text per line, lines split on
"\\n" only, the final newline ends the last line) and writes
Tests/CLIPTests/Fixtures/tokenizer-golden.json with, for every line, the token ids of

- `transformers.CLIPTokenizer` loaded from Tests/CLIPTests/Fixtures/clip-tokenizer/
  (`truncation=True, max_length=77`, no padding), and
- open_clip's `SimpleTokenizer` (`open_clip.get_tokenizer("ViT-B-32")`, its own bundled BPE
  file, which has the same ids), with its zero padding removed,

and `agree` telling whether the two lists are equal. A `padded` section records both
references' padded rows (transformers `padding="max_length"`, open_clip's zero padding) for a
few texts.

Needs: pip install torch transformers open_clip_torch ftfy regex
Only needed to regenerate the goldens; the Swift build and tests never run Python.

Usage: python3 Tools/make_tokenizer_goldens.py   (from the package root)
"""
import json
import pathlib

import ftfy
import open_clip
import transformers
from transformers import CLIPTokenizer

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests" / "CLIPTests" / "Fixtures"
CONTEXT = 77


def read_corpus():
    raw = (FIXTURES / "tokenizer-corpus.txt").read_bytes().decode("utf-8")
    assert raw.endswith("\n"), "corpus must end with a newline"
    return raw[:-1].split("\n")


def open_clip_ids(tokenizer, text, strip_padding=True):
    row = tokenizer([text], context_length=CONTEXT)[0].tolist()
    if not strip_padding:
        return row
    # The row is <sot> ... <eot> followed by zeros; keep up to the first end-of-text.
    return row[: row.index(tokenizer.eot_token_id) + 1]


def main():
    hf = CLIPTokenizer.from_pretrained(str(FIXTURES / "clip-tokenizer"))
    oc = open_clip.get_tokenizer("ViT-B-32")
    cases = []
    for number, text in enumerate(read_corpus(), start=1):
        t = hf(text, truncation=True, max_length=CONTEXT)["input_ids"]
        o = open_clip_ids(oc, text)
        cases.append({"line": number, "text": text, "transformers": t, "open_clip": o, "agree": t == o})

    padded = []
    special = next(c["text"] for c in cases if "<|endoftext|>" in c["text"])
    for text in ["a satellite image of a storage tank.", "", special, cases[-1]["text"]]:
        padded.append({
            "text": text,
            "transformers": hf(text, padding="max_length", truncation=True, max_length=CONTEXT)["input_ids"],
            "open_clip": open_clip_ids(oc, text, strip_padding=False),
        })

    golden = {
        "generator": "Tools/make_tokenizer_goldens.py",
        "versions": {
            "transformers": transformers.__version__,
            "open_clip": open_clip.__version__,
            "ftfy": ftfy.__version__,
        },
        "context_length": CONTEXT,
        "transformers_pad_token_id": hf.pad_token_id,
        "cases": cases,
        "padded": padded,
    }
    out = FIXTURES / "tokenizer-golden.json"
    out.write_text(json.dumps(golden, ensure_ascii=True, indent=1) + "\n", encoding="utf-8")
    disagree = [c["line"] for c in cases if not c["agree"]]
    print(f"{len(cases)} lines, references disagree on lines {disagree}; wrote {out}")


if __name__ == "__main__":
    main()
