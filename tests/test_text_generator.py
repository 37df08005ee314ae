"""Text domain (issue 29): tokenisation, the sentence VAE generator, the reference R, the snli bundle."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from auditor.text.reference import CLASS_NAMES, TextReference, train_reference  # noqa: E402
from auditor.text.tokens import UNK, Vocab, normalise  # noqa: E402
from auditor.text.vae import SentenceCodec, VAEConfig  # noqa: E402
from auditor.text.vae_training import round_half, train_vae  # noqa: E402

BUNDLE = Path(__file__).resolve().parents[1] / "generators" / "snli"

SENTENCES = [
    "a man is sleeping .", "a woman is sleeping .", "a dog runs in the park .",
    "two men are playing soccer .", "a child is eating an apple .", "the man is not sleeping .",
    "a woman is playing the guitar .", "a dog is sleeping on the couch .",
    "people are walking in the street .", "a girl runs in the park .",
]


@pytest.fixture(scope="module")
def tiny_gen():
    torch.manual_seed(0)
    cfg = VAEConfig(latent_dim=4, emb_dim=16, hidden=32, enc_hidden=16, steps=40, batch_size=5,
                    anneal_steps=10, min_count=1, lr=3e-3, checkpoint_every=10_000)
    gen, state = train_vae(SENTENCES, cfg, log=lambda m: None)
    round_half(gen.model)  # as a bundle stores it, so save/load is exact
    gen._tables = None
    assert state["done"] and state["step"] == 40
    return gen


def test_normalise():
    assert normalise("A man, smiling!") == "a man , smiling !"
    assert normalise("He doesn't like the dog's \"ball\".") == "he does n't like the dog 's `` ball '' ."
    assert normalise("  Two   men  (in a t-shirt) play.") == "two men ( in a t-shirt ) play ."
    tokenised = "a man wearing a t-shirt ca n't see the dog 's `` ball '' ."
    assert normalise(tokenised) == tokenised
    assert normalise(normalise("It's 3 p.m., OK?")) == normalise("It's 3 p.m., OK?")


def test_vocab_unknown_and_round_trip(tmp_path):
    v = Vocab.build(["a man is here", "a man is there", "a dog"], min_count=2)
    assert v.words[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert v.encode("a zebra") == [v.index["a"], v.unk]
    assert v.map_unknown("a zebra") == "a " + UNK
    assert v.decode([v.index["a"], v.unk, v.eos, v.index["man"]]) == "a <unk>"
    v.save(tmp_path / "vocab.txt")
    assert Vocab.load(tmp_path / "vocab.txt").words == v.words


def test_generator_shapes_determinism_and_save_load(tiny_gen, tmp_path):
    z = tiny_gen.encode(SENTENCES + ["an unseen zebra word ."])
    assert z.shape == (len(SENTENCES) + 1, 4) and z.dtype == np.float32
    rng = np.random.default_rng(0)
    zs = np.concatenate([z, rng.standard_normal((20, 4)).astype(np.float32)])
    a = tiny_gen.decode(zs)
    assert a == tiny_gen.decode(zs)  # greedy: deterministic
    assert a == tiny_gen.decode(zs, batch_size=7)  # batching does not change decodes
    assert all(isinstance(s, str) and "<eos>" not in s and "<bos>" not in s for s in a)
    assert all(len(s.split()) <= tiny_gen.max_len for s in a)
    tiny_gen.save(tmp_path)
    with np.load(tmp_path / "weights.npz", allow_pickle=False) as f:
        assert all(f[k].dtype in (np.float16, np.int64) for k in f.files)
    back = SentenceCodec.load(tmp_path)
    assert back.latent_dim == 4 and back.vocab.words == tiny_gen.vocab.words
    assert back.decode(zs) == a
    np.testing.assert_allclose(back.encode(SENTENCES), z[: len(SENTENCES)], atol=1e-5)
    with pytest.raises(ValueError):
        back.decode(np.zeros((2, 5), np.float32))


def test_reference_train_predict_save_load(tmp_path):
    pairs = [("a man is sleeping on a bed .", "a man is sleeping ."),
             ("a man is sleeping on a bed .", "a man is running ."),
             ("a man is sleeping on a bed .", "the man is tired ."),
             ("a dog runs in the park .", "a dog is outside ."),
             ("a dog runs in the park .", "a cat sleeps ."),
             ("a dog runs in the park .", "the dog chases a ball .")] * 4
    labels = [0, 2, 1, 0, 2, 1] * 4
    ref = train_reference(pairs, labels, epochs=30, lr=0.05, min_count=1)
    assert ref.class_names == CLASS_NAMES
    s = ref.predict_scores(pairs)
    assert s.shape == (len(pairs), 3) and s.dtype == np.float32
    np.testing.assert_allclose(s.sum(1), 1.0, atol=1e-5)
    assert (ref.predict(pairs) == np.array(labels)).mean() > 0.8
    assert ref.predict([]).shape == (0,)
    ref.save(tmp_path)
    back = TextReference.load(tmp_path)
    np.testing.assert_array_equal(back.predict(pairs), ref.predict(pairs))
    np.testing.assert_allclose(back.predict_scores(pairs), s, atol=2e-2)  # float16 storage
    mlp = train_reference(pairs, labels, architecture="mlp", hidden=8, epochs=30, lr=0.05, min_count=1)
    mlp.save(tmp_path / "mlp")
    np.testing.assert_array_equal(TextReference.load(tmp_path / "mlp").predict(pairs), mlp.predict(pairs))


@pytest.mark.skipif(not (BUNDLE / "manifest.json").exists(), reason="generators/snli not built yet")
def test_shipped_snli_bundle():
    m = json.loads((BUNDLE / "manifest.json").read_text())
    assert m["name"] == "snli" and m["modality"] == "text" and m["class_names"] == CLASS_NAMES
    for name, digest in m["files"].items():
        assert hashlib.sha256((BUNDLE / name).read_bytes()).hexdigest() == digest, name
    gen = SentenceCodec.load(BUNDLE)
    assert gen.latent_dim == m["latent_dim"]
    hyps = ["a man is playing a guitar on stage .", "two dogs are running through the snow .",
            "the woman is sleeping ."]
    z = gen.encode(hyps)
    out = gen.decode(z)
    assert len(out) == 3 and all(isinstance(s, str) and s for s in out)
    ref = TextReference.load(BUNDLE)
    p = ref.predict([("a man plays a guitar on a stage .", h) for h in hyps])
    assert p.dtype == np.int64 and set(p.tolist()) <= {0, 1, 2}
