"""Training a generator bundle for your own images, as `auditor train-generator` does it: read
the images and options into a :class:`TrainingPlan` (:func:`plan_training`), then train the VAE,
and a reference classifier where the images have labels (:func:`train_generator`).

Two steps, so that a caller can show what it is about to do (the images read, the network)
before the long part. Nothing here prints: training progress goes to the ``on_step`` callback.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .data import ImageSet, conversion_rule, folder_labels, load_images
from .errors import OptionError
from .generators.vae_training import TrainConfig, train_vae

SIZES = (28, 32, 64)  # image sides a bundle can be trained at
FAMILIES = ("conv", "mlp")  # convolutional or fully connected VAE
LABEL_SOURCES = ("auto", "folders", "none")  # where a reference classifier's labels come from


@dataclass
class TrainingPlan:
    """What :func:`train_generator` will do: the images it trains on, its settings and the
    bundle's manifest (name, description, provenance)."""

    data: Path  # the folder or .npz/.npy file read
    out: Path  # the bundle folder to write
    images: ImageSet  # (N, C, H, W) in [0, 1]; labels: those of the reference classifier, or None
    config: TrainConfig
    family: str  # conv or mlp
    hidden: str  # the layer widths, comma-separated
    class_names: list[str] | None  # the reference classifier's class names
    manifest: dict[str, Any]

    @property
    def n_images(self) -> int:
        return len(self.images.names)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the images and of the generator's outputs."""
        return tuple(int(v) for v in self.images.images.shape[1:])  # type: ignore[return-value]

    @property
    def conversion(self) -> str:
        """The rule every image went through on its way to :attr:`shape`, in words."""
        return conversion_rule(self.shape)

    @property
    def n_classes(self) -> int | None:
        """Classes of the reference classifier trained too; None where the images have no labels."""
        labels = self.images.labels
        return None if labels is None else len(set(labels.tolist()))


@dataclass(frozen=True)
class TrainedGenerator:
    """A bundle :func:`train_generator` wrote."""

    bundle: Path  # use it with ``--generator`` / ``generator=``
    reference_accuracy: float | None  # of the reference classifier on held-out images, if trained
    reference_images: int | None  # the held-out images that measured it


def plan_training(
    data: str | os.PathLike, out: str | os.PathLike, *, name: str | None = None, size: int = 28,
    channels: int = 1, latent_dim: int = 16, family: str = "conv",
    hidden: str | Sequence[int] | None = None, steps: int = 30_000, batch_size: int = 128,
    lr: float = 1e-3, beta: float = 1.0, seed: int = 0, threads: int | None = None,
    device: str = "cpu", class_names: Sequence[str] | None = None, labels: str = "auto",
    reference_steps: int = 5000, command: str | None = None,
) -> TrainingPlan:
    """Check the options and read the images of ``data`` (a folder, .npz or .npy) at
    ``channels`` x ``size`` x ``size``. ``hidden``: the channels of the stride-2 layers (conv;
    default 32,64, and 32,64,128 at 64 px) or the layer widths (mlp; default 512,512).
    ``labels``: auto (an .npz's labels array), folders (one sub-folder per class) or none; where
    there are labels, :func:`train_generator` trains a reference classifier too, its classes
    named by ``class_names`` (default: the .npz's or the folders' names). ``command`` is
    recorded in the manifest as the training's provenance. Raises :class:`OptionError` and
    :class:`DataError` with the CLI's messages."""
    data, out = Path(data), Path(out)
    if size not in SIZES or channels not in (1, 3):
        raise OptionError(f"--size must be 28, 32 or 64 and --channels 1 or 3, got {size}, "
                          f"{channels}")
    if family not in FAMILIES:
        raise OptionError(f"--family must be conv or mlp, got {family!r}")
    if hidden is None:
        hidden = "512,512" if family == "mlp" else "32,64,128" if size == 64 else "32,64"
    elif not isinstance(hidden, str):
        hidden = ",".join(str(v) for v in hidden)
    try:
        widths = [int(v) for v in hidden.split(",")]
    except ValueError:
        raise OptionError(f"--hidden expects comma-separated integers, got {hidden!r}") from None
    config = TrainConfig(
        latent_dim=latent_dim, hidden=widths, family=f"vae-{family}", steps=steps,
        batch_size=batch_size, lr=lr, beta=beta, seed=seed, threads=threads, device=device,
        reference_steps=reference_steps,
    )
    config.validate()
    if labels not in LABEL_SOURCES:
        raise OptionError(f"--labels must be auto, folders or none, got {labels!r}")
    images = load_images(data, (channels, size, size))
    names = list(class_names) if class_names else images.class_names
    if labels == "none":
        images.labels = None
    elif labels == "folders":
        images.labels, classes = folder_labels(images.names)
        names = names or classes
    if names and images.labels is not None and len(names) <= int(images.labels.max()):
        raise OptionError(f"--class-names gives {len(names)} names for labels "
                          f"0..{int(images.labels.max())}: give one name per class")
    kind = "convolutional" if family == "conv" else "MLP"
    manifest = {
        "name": name or out.resolve().name,
        "description": f"{kind} VAE trained on {len(images.names)} images from {data.name}",
        "training": {"data": str(data), "n_images": len(images.names),
                     **({"command": command} if command is not None else {})},
    }
    return TrainingPlan(data, out, images, config, family, hidden, names, manifest)


def train_generator(
    plan: TrainingPlan, resume: bool = False,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainedGenerator:
    """Train the plan's VAE (and reference classifier, where its images have labels) and write
    the bundle into ``plan.out``. ``resume`` continues from the folder's checkpoint;
    ``on_step(step, losses)`` is called after every optimiser step."""
    from .generators import read_manifest

    bundle = train_vae(plan.images.images, plan.out, plan.config, plan.manifest, resume=resume,
                       on_step=on_step, labels=plan.images.labels, class_names=plan.class_names)
    record = read_manifest(bundle).get("reference_classifier")
    if record and "accuracy" in record:
        return TrainedGenerator(bundle, record["accuracy"], record["n_images"])
    return TrainedGenerator(bundle, None, None)
