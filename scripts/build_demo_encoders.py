"""Build small, randomly initialised stand-ins for klue/roberta-base and a Korean wav2vec2,
so the demo trains offline on a laptop CPU. Either one, or both.

    python scripts/build_demo_encoders.py --segments results/data/segments.csv \
        --text-out results/encoders/text --hidden 64 --layers 2 --heads 2 --vocab 2000
    python scripts/build_demo_encoders.py --audio results/data/audio \
        --audio-out results/encoders/audio --hidden 64 --layers 2 --heads 2 \
        --pretrain-epochs 8 --seed 0 --threads 2

The rules build them apart (build_demo_text_encoder, build_demo_audio_encoder), so the text
variants train while the audio encoder is still being pre-trained. What they are, and the
audio encoder's label-free pre-training on the decoded clips (--audio, --pretrain-epochs):
scripts/kemdy/demo/encoders.py and audio_pretext.py.
"""

from __future__ import annotations

import argparse

import torch

from kemdy.demo.encoders import build_audio, build_text, read_clips
from kemdy.errors import InputError, run_cli
from kemdy.release.segments import read_segments


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--segments", help="segments.csv (its text column): with --text-out")
    p.add_argument("--text-out", help="build the text encoder (tokenizer + RoBERTa) here")
    p.add_argument("--audio-out", help="build the audio encoder (wav2vec2) here")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--vocab", type=int, default=2000)
    p.add_argument("--conv-dim", type=int, default=64, help="filters of the conv front end")
    p.add_argument("--audio", help="decode_audio's folder: pre-train the audio encoder on its clips")
    p.add_argument("--pretrain-epochs", type=int, default=0,
                   help="epochs of label-free audio pre-training (0: keep it random)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = p.parse_args(argv)
    if not (args.text_out or args.audio_out):
        raise InputError("--text-out/--audio-out", "nothing to build", "pass one or both")
    if args.hidden % args.heads or args.hidden % 4:
        raise InputError("--hidden", f"{args.hidden} is not divisible by --heads and by 4",
                         "pick a multiple of both")
    if args.audio_out and args.pretrain_epochs < 0:
        raise InputError("--pretrain-epochs", f"{args.pretrain_epochs} is negative", "use 0 or more")
    if args.audio_out and args.pretrain_epochs and not args.audio:
        raise InputError("--pretrain-epochs", "no clips to pre-train on", "pass --audio too")
    torch.set_num_threads(args.threads)
    if args.text_out:
        build_text_part(args)
    if args.audio_out:
        build_audio_part(args)


def build_text_part(args) -> None:
    if not args.segments:
        raise InputError("--segments", "missing", "the text encoder's tokenizer trains on it")
    segments = read_segments(args.segments, ["text"], usecols=lambda c: c == "text")
    texts = segments["text"].dropna().astype(str)
    texts = texts[texts.str.strip() != ""]
    if texts.empty:
        raise InputError(args.segments, "no transcript text", "check the dataset's .txt files")
    sizes = build_text(texts, args.text_out, args.hidden, args.layers, args.heads, args.vocab,
                       args.seed)
    print(f"text encoder: {sizes['text_parameters']:,} parameters, vocabulary {sizes['vocab']}")


def build_audio_part(args) -> None:
    clips = read_clips(args.audio) if args.audio and args.pretrain_epochs else []
    sizes = build_audio(args.audio_out, args.hidden, args.layers, args.heads, args.seed,
                        args.conv_dim, clips, args.pretrain_epochs)
    print(f"audio encoder: {sizes['audio_parameters']:,} parameters, pre-trained on "
          f"{len(clips)} clips for {args.pretrain_epochs} epochs")

if __name__ == "__main__":
    run_cli(main)
