"""Find and load images into one float32 array in a generator's domain.

A folder is searched recursively for image files and ``.npy``/``.npz`` arrays, sorted by
path. Every image is converted by one rule (see :func:`conversion_rule`) to the domain
``(C, H, W)`` with pixels in [0, 1]; files that cannot be read are skipped and listed.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataError, first_line

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
ARRAY_SUFFIXES = {".npy", ".npz"}
# Pillow refuses images above twice this many pixels (a decompression bomb); we refuse
# anything above it, so a 20,000 x 20,000 file is skipped, not decoded into 1.6 GB.
MAX_IMAGE_PIXELS = 64_000_000
# Pillow logs notes on damaged files (TIFF tags, EXIF); a skipped file is reported once, by us.
logging.getLogger("PIL").setLevel(logging.ERROR)


@dataclass
class ImageSet:
    """Images in one domain. ``images`` is (N, C, H, W) float32 in [0, 1]."""

    images: np.ndarray
    names: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    n_resized: int = 0
    n_converted: int = 0
    # arrays that are not images, e.g. labels
    ignored: list[tuple[str, str]] = field(default_factory=list)
    # integer class labels, where the data carries them (see load_images)
    labels: np.ndarray | None = None
    # an .npz's ``class_names`` (strings), naming labels 0, 1, ...
    class_names: list[str] | None = None

    kind = "images"  # what the inputs are (domains.base.InputSet)
    one = "image"  # one input, in a word

    @property
    def items(self) -> np.ndarray:  # the inputs as the search and the models get them
        return self.images

    @property
    def rule(self) -> str:
        return conversion_rule(tuple(self.images.shape[1:]))  # type: ignore[arg-type]

    def identity(self) -> bytes:
        return self.images.tobytes()


CLASS_NAME_KEYS = ("class_names", "label_names")
LABEL_KEYS = ("labels", "label", "y", "y_train", "y_test", "targets", "target", "classes")


def conversion_rule(shape: tuple[int, int, int]) -> str:
    """The one rule every image goes through on its way to ``shape`` = (C, H, W)."""
    c, h, w = shape
    colour = (
        "grayscale (ITU-R 601-2 luma); transparent pixels composited on black"
        if c == 1
        else "RGB; grayscale replicated, transparent pixels composited on black"
    )
    return (
        f"{colour}; resized to {h}x{w} with a Lanczos filter where the size differs "
        "(aspect ratio not kept); 8-bit values / 255, 16-bit / 65535; arrays: integers / 255, "
        "floats above 1 / 255"
    )


def find_files(root: Path) -> list[Path]:
    """Image and array files under ``root`` (a folder or a single file), sorted by path."""
    if not root.exists():
        raise DataError(f"data path {str(root)!r} does not exist: pass a folder of images")
    if root.is_file():
        if root.suffix.lower() not in IMAGE_SUFFIXES | ARRAY_SUFFIXES:
            raise DataError(
                f"data path {str(root)!r} is a file, not a folder of images: pass the folder"
            )
        return [root]
    files = [
        p
        for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES | ARRAY_SUFFIXES
    ]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def load_images(
    root: Path, shape: tuple[int, int, int], limit: int | None = None
) -> ImageSet:
    """Load every image under ``root`` into ``shape`` = (C, H, W); keep the first ``limit``.

    Unreadable files are skipped and listed in ``ImageSet.skipped``; a folder with no
    readable image raises :class:`DataError` naming each file's reason. In ``.npz`` files,
    arrays that cannot be images (1-D arrays such as ``labels`` / ``y_train``) are left out
    and listed in ``ImageSet.ignored``; where the data is one ``.npz`` with one image array and
    one integer label array of the same length (the ``images``/``labels`` layout), the
    labels are kept in ``ImageSet.labels`` (a scan never uses them; train-generator may).
    """
    root = Path(root)
    files = find_files(root)
    base = root if root.is_dir() else root.parent
    arrays: list[np.ndarray] = []
    names: list[str] = []
    skipped: list[tuple[str, str]] = []
    ignored: list[tuple[str, str]] = []
    label_sets: list[np.ndarray] = []
    class_names: list[str] | None = None
    n_resized = n_converted = 0
    for path in files:
        if limit is not None and len(names) >= limit:
            break
        rel = path.relative_to(base).as_posix()
        try:
            if path.suffix.lower() in ARRAY_SUFFIXES:
                found, left_out, labels, names_found = _read_arrays(path, rel, shape)
                class_names = class_names or names_found
                ignored.extend(left_out)
                if labels is not None:
                    label_sets.append(labels)
                for name, image in found:
                    arrays.append(image)
                    names.append(name)
            else:
                image, resized, converted = _read_image(path, shape)
                arrays.append(image)
                names.append(rel)
                n_resized += resized
                n_converted += converted
        except DataError as err:
            skipped.append((rel, str(err)))
    labels = (label_sets[0] if len(files) == 1 and len(label_sets) == 1
              and len(label_sets[0]) == len(arrays) else None)
    if limit is not None:
        arrays, names = arrays[:limit], names[:limit]
        labels = labels[:limit] if labels is not None else None
    if not arrays:
        if files:
            reasons = "; ".join(f"{name}: {reason}" for name, reason in skipped[:3])
            more = f"; and {len(skipped) - 3} more" if len(skipped) > 3 else ""
            where = (f"{len(files)} candidate file{'s' if len(files) > 1 else ''}, all unreadable: "
                     f"{reasons}{more}")
        else:
            where = "no image files"
        raise DataError(
            f"no readable images under {str(root)!r} ({where}); expected PNG, JPEG, BMP, "
            "TIFF, WebP, GIF, .npy or .npz files"
        )
    batch = np.empty((len(arrays), *shape), dtype=np.float32)  # one copy, not a stack and a cast
    for i, image in enumerate(arrays):
        batch[i] = image
    return ImageSet(batch, names, skipped, n_resized, n_converted, ignored, labels,
                    class_names if labels is not None else None)


def folder_labels(names: list[str]) -> tuple[np.ndarray, list[str]]:
    """Labels from one sub-folder per class: (label of each image, class names = sorted folder
    names). ``names`` are the images' paths relative to the data folder, as loaded."""
    tops = [n.split("/")[0] if "/" in n else None for n in names]
    if None in tops:
        raise DataError("labels from folders need every image in a sub-folder named after its "
                        f"class; {names[tops.index(None)]!r} is not in one")
    classes = sorted(set(tops))
    return np.array([classes.index(t) for t in tops], dtype=np.int64), classes


def _read_image(path: Path, shape: tuple[int, int, int]) -> tuple[np.ndarray, bool, bool]:
    """One image file -> (C, H, W) float32 in [0, 1], and whether it was resized/converted."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's notes on damaged metadata: not ours to print
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.width * img.height > MAX_IMAGE_PIXELS:
                    raise DataError(
                        f"{img.width}x{img.height} pixels is above the "
                        f"{MAX_IMAGE_PIXELS:,}-pixel limit"
                    )
                img.seek(0)  # GIF, TIFF: the first frame
                img.load()
                array, resized, converted = _from_pil(img, shape)
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise DataError(
            f"too many pixels to decode safely (limit {MAX_IMAGE_PIXELS:,}): a decompression bomb?"
        ) from err
    except UnidentifiedImageError as err:
        raise DataError("not a readable image (unknown or damaged format)") from err
    except (OSError, ValueError, SyntaxError) as err:
        raise DataError(f"unreadable image: {err}") from err
    return array, resized, converted


def _from_pil(img, shape: tuple[int, int, int]) -> tuple[np.ndarray, bool, bool]:
    """A Pillow image -> (C, H, W) float32 in [0, 1], and whether it was resized/converted."""
    c, h, w = shape
    array, converted = _to_channels(img, c)
    resized = array.shape[1:] != (h, w)
    if resized:
        array = np.stack([_resize(ch, h, w) for ch in array])
    return np.clip(array, 0.0, 1.0), resized, converted


def image_set(source, shape: tuple[int, int, int], limit: int | None = None) -> ImageSet:
    """Images from a folder or file (see :func:`load_images`), an array (a NumPy array or anything
    ``numpy.asarray`` takes, e.g. a CPU tensor: (N, H, W), (N, H, W, C), (N, C, H, W) or (N, C*H*W),
    integers / 255, floats in [0, 1]) named ``array[i]``, or a list of Pillow images named
    ``image[i]``; every image converted by the same rule to ``shape``."""
    import os

    if isinstance(source, (str, os.PathLike)):
        return load_images(Path(source), shape, limit)
    if isinstance(source, (list, tuple)) and source and all(hasattr(v, "getbands") for v in source):
        images = source[:limit] if limit is not None else source
        batch = np.empty((len(images), *shape), dtype=np.float32)
        n_resized = n_converted = 0
        for i, img in enumerate(images):
            batch[i], resized, converted = _from_pil(img, shape)
            n_resized, n_converted = n_resized + resized, n_converted + converted
        return ImageSet(batch, [f"image[{i}]" for i in range(len(batch))], n_resized=n_resized,
                        n_converted=n_converted)
    if hasattr(source, "detach"):  # a torch tensor
        source = source.detach().cpu().numpy()
    try:
        array = np.asarray(source)
    except Exception:
        array = np.asarray(None)
    if array.dtype == object or array.ndim < 2:
        raise DataError("images must be a folder or file path, an array of images or a list of PIL "
                        f"images; got {type(source).__name__}")
    if array.ndim == 2 and array.shape[1] != int(np.prod(shape)):
        array = array[None]  # one (H, W) image
    if len(array) == 0:
        raise DataError("the image array is empty")
    batch = _array_to_batch(array[:limit] if limit is not None else array, shape, "images")
    return ImageSet(batch, [f"array[{i}]" for i in range(len(batch))])


def skipped_message(skipped: list[tuple[str, str]]) -> str:
    """One line on the files a load skipped (the first 20 reasons)."""
    shown = "; ".join(f"{name} ({reason})" for name, reason in skipped[:20])
    more = (f" and {len(skipped) - 20} more (every reason is in results.json)" if len(skipped) > 20
            else "")
    return f"skipped {len(skipped)} unreadable files: {shown}{more}"


def ignored_message(ignored: list[tuple[str, str]]) -> str:
    """One line on the arrays of .npz files that are not images (labels, ids)."""
    shown = "; ".join(f"{name} ({reason})" for name, reason in ignored[:5])
    more = f" and {len(ignored) - 5} more" if len(ignored) > 5 else ""
    return f"note: left out {len(ignored)} array(s) that are not images: {shown}{more}"


def _to_channels(img, c: int) -> tuple[np.ndarray, bool]:
    """A Pillow image -> (c, H, W) float32 in [0, 1]; whether its mode was converted."""
    from PIL import Image

    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        scale = 65535.0 if mode.startswith("I;16") or np.asarray(img).max() > 255 else 255.0
        gray = np.asarray(img, dtype=np.float32) / scale
        planes = gray[None] if c == 1 else np.repeat(gray[None], 3, axis=0)
        return planes.astype(np.float32), True
    if mode == "F":
        gray = np.asarray(img, dtype=np.float32)
        gray = gray / 255.0 if gray.max() > 1.0 else gray
        planes = gray[None] if c == 1 else np.repeat(gray[None], 3, axis=0)
        return planes.astype(np.float32), True
    converted = mode not in ("L", "RGB")
    if "A" in mode or mode == "P" and "transparency" in img.info:
        rgba = img.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        img = Image.alpha_composite(black, rgba)
    target = "L" if c == 1 else "RGB"
    if img.mode != target:
        converted = converted or target != mode
        img = img.convert(target)
    array = np.asarray(img, dtype=np.float32) / 255.0
    planes = array[None] if c == 1 else array.transpose(2, 0, 1)
    return np.ascontiguousarray(planes), converted


def _resize(plane: np.ndarray, h: int, w: int) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(plane.astype(np.float32), mode="F")
    return np.asarray(img.resize((w, h), Image.Resampling.LANCZOS), dtype=np.float32)


def _read_arrays(path: Path, rel: str, shape: tuple[int, int, int]):
    """The images of a .npy/.npz file: ([(name, image)], [(entry, why left out)], labels or None,
    class names or None)."""
    import zipfile

    try:
        with open(path, "rb") as fh:  # our handle: closed however np.load fails
            loaded = np.load(fh, allow_pickle=False)
            if isinstance(loaded, np.ndarray):
                entries = [("", loaded)]
            else:
                with loaded as npz:
                    entries = [(key, npz[key]) for key in npz.files]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError) as err:
        raise DataError(f"unreadable array file: {first_line(err)}") from err
    if (path.suffix.lower() == ".npy" and len(entries) != 1 or entries and not entries[0][0]
        and path.suffix.lower() == ".npz"):
        raise DataError("the file's content does not match its .npy/.npz extension")
    out, ignored, label_arrays, errors = [], [], [], []
    class_names = None
    for key, array in entries:
        prefix = f"{rel}:{key}" if key else rel
        if key.lower() in CLASS_NAME_KEYS and array.ndim == 1 and array.dtype.kind in "US":
            class_names = [v.decode() if isinstance(v, bytes) else str(v) for v in array.tolist()]
            continue
        if key and array.ndim <= 1:  # never images: labels, ids, metadata
            kind = "labels" if key.lower() in LABEL_KEYS else "a 1-D array"
            ignored.append((prefix,
                            f"{kind}, not images ({array.shape[0] if array.ndim else 1} values)"))
            if np.issubdtype(array.dtype, np.integer) and array.ndim == 1:
                label_arrays.append(array.astype(np.int64))
            continue
        try:
            batch = _array_to_batch(array, shape, prefix)
        except DataError as err:
            if len(entries) == 1:
                raise
            ignored.append((prefix, str(err).removeprefix(f"{prefix}: ")))
            errors.append(str(err))
            continue
        out.extend((f"{prefix}[{i}]", image) for i, image in enumerate(batch))
    if not out:
        detail = "; ".join(f"{name}: {why}" for name, why in ignored) or "no arrays"
        raise DataError(f"array file holds no images ({detail})")
    n_image_arrays = len(entries) - len(ignored) - (class_names is not None)
    labels = (label_arrays[0] if n_image_arrays == 1 and len(label_arrays) == 1
              and len(label_arrays[0]) == len(out) else None)
    return out, ignored, labels, class_names


def _array_to_batch(array: np.ndarray, shape: tuple[int, int, int], name: str) -> np.ndarray:
    """An array of one or more images -> (N, C, H, W) float32 in [0, 1].

    Accepted: (H, W), (N, H, W), (N, H, W, C), (N, C, H, W) and flattened (N, C*H*W),
    with C in {1, 3, 4}.
    """
    c, h, w = shape
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise DataError(f"{name}: expected a numeric array, got dtype {array.dtype}")
    values = array.astype(np.float32)  # a copy: scaled and clipped in place below
    if np.issubdtype(array.dtype, np.integer) or (values.size and np.nanmax(values) > 1.0):
        values /= 65535.0 if values.size and values.max() > 255 else 255.0
    if not np.all(np.isfinite(values)):
        raise DataError(f"{name}: array holds NaN or infinite values")
    if values.ndim == 2 and values.shape[1] == c * h * w:
        batch = values.reshape(-1, c, h, w)
    elif values.ndim == 2:
        batch = values[None, None]
    elif values.ndim == 3:
        batch = values[:, None]
    elif values.ndim == 4 and values.shape[-1] in (1, 3, 4) and values.shape[1] not in (1, 3, 4):
        batch = values.transpose(0, 3, 1, 2)
    elif values.ndim == 4 and values.shape[1] in (1, 3, 4):
        batch = values
    else:
        raise DataError(
            f"{name}: expected an array of shape (H, W), (N, H, W), (N, H, W, C), "
            f"(N, C, H, W) or (N, {c * h * w}), got {array.shape}"
        )
    batch = _match_channels(batch, c)
    if batch.shape[2:] != (h, w):
        batch = np.stack([np.stack([_resize(p, h, w) for p in img]) for img in batch])
    batch = np.ascontiguousarray(batch, dtype=np.float32)
    return np.clip(batch, 0.0, 1.0, out=batch)


def _match_channels(batch: np.ndarray, c: int) -> np.ndarray:
    have = batch.shape[1]
    if have == 4:  # RGBA composited on black
        batch = batch[:, :3] * batch[:, 3:4]
        have = 3
    if have == c:
        return batch
    if c == 1:  # ITU-R 601-2 luma, as Pillow's convert("L")
        weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)[None, :, None, None]
        return (batch * weights).sum(axis=1, keepdims=True)
    return np.repeat(batch, c, axis=1)
