"""Hugging Face model folders built offline, as `optimum-cli export onnx` lays them out: a tiny
BERT pair classifier (two layers, a WordPiece tokenizer trained on the synthetic pairs, a few
training steps so that its labels follow the data) and a small image CNN that takes normalised
`pixel_values` at another size than the generator's, with a preprocessor_config.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from text_fixtures import LABELS, pairs

def _export(*args, **kwargs) -> None:
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(*args, **kwargs)


# an MNLI-like order: contradiction first, as many NLI models have it
NLI_ORDER = ("contradiction", "entailment", "neutral")


def wordpiece(sentences: list[str]):
    """A BERT-style WordPiece tokenizer (lower-casing normaliser, [CLS] A [SEP] B [SEP] pairs)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers.trainers import WordPieceTrainer

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(sentences, WordPieceTrainer(vocab_size=400, special_tokens=specials))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.decoder = decoders.WordPiece()
    return tok


def bert_folder(folder: Path, order=NLI_ORDER, id2label=True, steps: int = 60,
                seed: int = 0) -> Path:
    """A 2-layer BERT pair classifier exported to ``folder`` (model.onnx, tokenizer.json,
    tokenizer_config.json, config.json); its labels 0, 1, 2 are ``order``'s classes."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    train, labels = pairs(240, seed)
    tok = wordpiece([s for p in train for s in p])
    names = {i: n for i, n in enumerate(order)} if id2label else {i: f"LABEL_{i}" for i in range(3)}
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                        num_labels=3, id2label=names, label2id={v: k for k, v in names.items()})
    model = BertForSequenceClassification(config)
    enc = tok.encode_batch(train)
    width = max(len(e.ids) for e in enc)

    def tensor(key):
        return torch.tensor([getattr(e, key) + [0] * (width - len(e.ids)) for e in enc])

    ids, mask, types = tensor("ids"), tensor("attention_mask"), tensor("type_ids")
    target = torch.tensor([order.index(LABELS[k]) for k in labels])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for step in range(steps):
        rows = torch.randint(0, len(train), (32,))
        loss = model(input_ids=ids[rows], attention_mask=mask[rows], token_type_ids=types[rows],
                     labels=target[rows]).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    folder.mkdir(parents=True, exist_ok=True)
    _export(
        model, (ids[:2], mask[:2], types[:2]), str(folder / "model.onnx"),
        input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["logits"],
        dynamic_axes={k: {0: "batch", 1: "sequence"}
                      for k in ("input_ids", "attention_mask", "token_type_ids")}
        | {"logits": {0: "batch"}},
        opset_version=17, dynamo=False)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"model_max_length": 64, "pad_token": "[PAD]", "tokenizer_class": "BertTokenizer"}))
    config.to_json_file(str(folder / "config.json"))
    model.save_pretrained(str(folder / "torch"))  # the same network for transformers in Python
    return folder


def bert_predict(folder: Path, rows: list[tuple[str, str]]) -> np.ndarray:
    """The folder model's own labels (its class order) of ``rows``, run here independently of
    auditor: tokenizer.json then ONNX Runtime, one pair at a time (no padding)."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    sess = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    out = []
    for p, h in rows:
        e = tok.encode(p, h)
        feed = {"input_ids": [e.ids], "attention_mask": [e.attention_mask],
                "token_type_ids": [e.type_ids]}
        logits = sess.run(None, {k: np.array(v, dtype=np.int64) for k, v in feed.items()})[0]
        out.append(int(logits.argmax()))
    return np.array(out)


def _colour_net():
    """(N, 3, S, S) normalised pixels -> 3 logits that follow the mean colour (a model whose
    labels change under natural changes of a photo, unlike a random network's)."""
    import torch

    net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                              torch.nn.Linear(3, 3))
    with torch.no_grad():
        net[2].weight.copy_(torch.tensor([[2.0, -1.0, -1.0], [-1.0, 2.0, -1.0],
                                          [-1.0, -1.0, 2.0]]))
        net[2].bias.zero_()
    return net.eval()


MEAN, STD = (0.5, 0.4, 0.3), (0.25, 0.2, 0.3)


def image_folder(folder: Path, size: int = 48, names=("red", "green", "blue"),
                 seed: int = 0) -> tuple[Path, Path]:
    """(model folder, the same network as a plain ONNX file of input (N, 3, size, size) in
    [0, 1] without normalisation): the folder's model.onnx takes normalised pixel_values, its
    preprocessor_config.json says how."""
    import torch

    net = _colour_net()
    mean = torch.tensor(MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(STD).reshape(1, 3, 1, 1)

    class Plain(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net
            self.register_buffer("mean", mean)
            self.register_buffer("std", std)

        def forward(self, x):
            return self.net((x - self.mean) / self.std)

    folder.mkdir(parents=True, exist_ok=True)
    x = torch.rand(2, 3, size, size)
    _export(net, (x,), str(folder / "model.onnx"), input_names=["pixel_values"],
                      output_names=["logits"],
                      dynamic_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=17, dynamo=False)
    plain = folder.parent / f"{folder.name}-plain.onnx"
    _export(Plain().eval(), (x,), str(plain), input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
                      dynamo=False)
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "do_resize": True, "size": {"height": size, "width": size}, "resample": 2,
        "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
        "image_mean": list(MEAN), "image_std": list(STD),
        "image_processor_type": "ViTImageProcessor"}))
    (folder / "config.json").write_text(json.dumps(
        {"id2label": {str(i): n for i, n in enumerate(names)},
         "label2id": {n: i for i, n in enumerate(names)}}))
    return folder, plain
