"""The CUDA path: generator, TorchScript and ONNX classifiers on the GPU give the same
search as on the CPU. Runs where CUDA is present, skipped elsewhere (the CPU CI)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_search_on_cuda_matches_cpu(tiny_bundle, torchscript_model, onnx_factory):
    import onnxruntime as ort

    from auditor.generators import load_generator
    from auditor.models import ModelOptions, load_classifier
    from auditor.search import SearchSettings, search
    from conftest import blob_images

    images = (blob_images(6, seed=3) / 255.0).astype(np.float32)[:, None]
    onnx_path = onnx_factory()
    results = {}
    for device in ("cpu", "cuda"):
        gen = load_generator(tiny_bundle, device=device)
        assert str(next(gen.decoder.parameters()).device).startswith(device)
        options = ModelOptions(device=device)
        clfs = [load_classifier(torchscript_model, "ts", gen.image_shape, options),
                load_classifier(onnx_path, "onnx", gen.image_shape, options)]
        if device == "cuda":
            assert clfs[0].provider == "cuda"
            if "CUDAExecutionProvider" in ort.get_available_providers():
                assert clfs[1].provider == "CUDAExecutionProvider"
        results[device] = search(gen, clfs, images, SearchSettings(refine_steps=5, max_steps=20))
    for name in ("ts", "onnx"):
        cpu, gpu = results["cpu"].results[name], results["cuda"].results[name]
        np.testing.assert_array_equal(cpu.prediction, gpu.prediction)
        # float differences between devices may move a proposal across the boundary: compare loosely
        both = ~np.isnan(cpu.delta_z) & ~np.isnan(gpu.delta_z)
        assert both.mean() >= 0.5
        np.testing.assert_allclose(cpu.delta_z[both], gpu.delta_z[both], rtol=0.25)
