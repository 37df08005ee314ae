"""Tree ensembles as a white box: a soft copy of an ONNX forest whose margin has a gradient.

A forest's class scores are flat between jumps (each tree's leaf changes only where a pixel
crosses one of its thresholds), so neither a gradient nor a finite difference of them points
anywhere; the black-box walk (margin.py) finds a 50-tree forest's adversaries on photos some 30%
beyond the best known, where it puts a network within a few percent. But an ONNX file of a
scikit-learn, LightGBM or XGBoost ensemble *is* its trees (one ``TreeEnsembleClassifier`` node:
every split's feature and threshold, every leaf's class weights). :func:`read_trees` reads them
and :class:`Trees` evaluates them in torch, exactly (a split x_f <= t is a comparison) or softly:
a split sends the input down its true branch with probability sigmoid((t - x_f) / (T s_f)), s_f
the model's input units per pixel, so each leaf is reached with the product of its path's
probabilities, and the scores are the leaves' weights summed by those probabilities (Jordan &
Jacobs' soft trees, 1994; the sigmoid relaxation of a trained hard tree as in Kumar et al.,
"Gradient-based attacks on tree ensembles"). As T -> 0 the soft copy is the model.

:func:`search_trees` runs the gradient search's FMN steps (gradient.py) on the soft copy's margin
through the generator, in the generator's active directions (subspace.py), T annealed
geometrically from T0 to T1 pixels over the steps; a step's candidate is adversarial where the
*exact* copy's label differs (not the soft one's), and the model's own ``predict`` confirms the
best at the end. A step is counted as two queries (the copy's forward and backward pass, as a
TorchScript model's), the exact label comes with the forward pass.

:func:`tree_models` names the models it applies to: ONNX files whose graph is one tree ensemble
(with casts, reshapes, ZipMap and products around it), splits on x <= t, x < t, x > t or x >= t,
post-transform NONE or SOFTMAX, integer class labels 0..K-1 or string ones (put in the model's
order of label ids), and whose exact copy scores and labels the scan's first inputs as the model
does (any disagreement, and the model stays a black box).
"""

from __future__ import annotations

import os

import numpy as np

# the nodes a tree ensemble's graph may hold (LightGBM's export multiplies the probabilities by 1:
# any node that changes scores fails tree_copy's check and leaves the model a black box)
OPS = {"TreeEnsembleClassifier", "Cast", "Identity", "Reshape", "Flatten", "ZipMap", "Mul"}
POST = ("NONE", "SOFTMAX")
# a split's mode -> (strict: its low branch is x < t, not x <= t; swapped: its true branch is the
# high one, x > t or x >= t)
MODES = {"BRANCH_LEQ": (False, False), "BRANCH_LT": (True, False), "BRANCH_GT": (False, True),
         "BRANCH_GTE": (True, True)}
T0, T1 = 0.01, 0.002  # the soft splits' temperature in pixels ([0, 1]): first step, last step
CHECK = 16  # inputs on which the exact copy must label as the model does
CELLS = 1 << 24  # rows x splits evaluated at once (bounds memory: 64 MB a float32 array)


class Trees:
    """The trees of one ensemble as arrays: per split its feature and threshold, per leaf the
    splits on its path (true or false branch) and its class weights."""

    def __init__(self, feature, threshold, strict, leaf_true, leaf_false, weights, base,
                 post) -> None:
        import torch

        self.feature = torch.as_tensor(feature, dtype=torch.long)
        self.threshold = torch.as_tensor(threshold, dtype=torch.float32)
        self.strict = torch.as_tensor(strict, dtype=torch.bool)  # x < t, not x <= t
        n_leaves, n_splits = len(weights), len(feature)
        self.paths = [torch.sparse_coo_tensor(np.asarray(pairs, dtype=np.int64).reshape(-1, 2).T,
                                              torch.ones(len(pairs)), (n_leaves, n_splits),
                                              check_invariants=True)
                      .coalesce() for pairs in (leaf_true, leaf_false)]
        self.weights = torch.as_tensor(weights, dtype=torch.float32)
        self.base = torch.as_tensor(base, dtype=torch.float32)
        self.post = post
        self.scale = torch.ones(n_splits)  # the model's input units per pixel, at each split
        self.classes: list[str] | None = None  # string class labels, in the columns' order

    def ordered(self, names) -> Trees | None:
        """These trees with their columns in the order of a model's label ids (``names``: its
        ``file_classes``, the file's class of each id), where their classes are strings; None
        where ``names`` are not exactly these classes."""
        import copy

        if self.classes is None:
            return self
        if names is None or sorted(map(str, names)) != sorted(self.classes):
            return None
        order = [self.classes.index(str(n)) for n in names]
        out = copy.copy(self)
        out.weights, out.base, out.classes = self.weights[:, order], self.base[order], None
        return out

    def log_scores(self, x, temperature: float | None = None):
        """(B, K) log-scores of prepared, flattened inputs ``x`` (B, F): exact where
        ``temperature`` is None, else the soft copy's (differentiable)."""
        import torch

        rows = max(1, CELLS // max(1, len(self.feature)))
        parts = [self._log_scores(x[i:i + rows], temperature) for i in range(0, len(x), rows)]
        return torch.cat(parts) if parts else torch.zeros(0, len(self.base))

    def _log_scores(self, x, temperature):
        import torch

        at = x[:, self.feature]
        true, false = self.paths
        if temperature is None:  # a leaf is reached where no split on its path sends x elsewhere
            go = torch.where(self.strict, at < self.threshold, at <= self.threshold).float()
            wrong = torch.sparse.mm(true, (1 - go).T) + torch.sparse.mm(false, go.T)
            reached = (wrong.T == 0).float()
        else:
            v = (self.threshold - at) / (temperature * self.scale)
            log_true = torch.nn.functional.logsigmoid(v)
            log_false = torch.nn.functional.logsigmoid(-v)
            reached = torch.exp((torch.sparse.mm(true, log_true.T)
                                 + torch.sparse.mm(false, log_false.T)).T)
        raw = reached @ self.weights + self.base
        if self.post == "SOFTMAX":
            return torch.log_softmax(raw, dim=1)
        return torch.log(raw.clamp_min(1e-12))

    def labels(self, x) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.log_scores(x).argmax(1).cpu().numpy()


def read_trees(path) -> Trees | None:
    """The tree ensemble of an ONNX file, or None where the graph is anything else."""
    import onnx

    from ..onnx_session import read_graph

    graph = read_graph(path, b"TreeEnsembleClassifier")
    if graph is None:
        return None
    try:
        ops = [node.op_type for node in graph.node]
        if ops.count("TreeEnsembleClassifier") != 1 or not set(ops) <= OPS:
            return None
        node = graph.node[ops.index("TreeEnsembleClassifier")]
        return _build({a.name: onnx.helper.get_attribute_value(a) for a in node.attribute})
    except Exception:  # anything unexpected in the file (ids, attributes): a black box
        return None


def _build(a: dict) -> Trees | None:
    post = a.get("post_transform", b"NONE")
    post = post.decode() if isinstance(post, bytes) else post
    ints = list(a.get("classlabels_int64s", []))
    strings = [s.decode() if isinstance(s, bytes) else s for s in a.get("classlabels_strings", [])]
    labels = ints or strings
    if post not in POST or (ints and ints != list(range(len(ints)))) or len(labels) < 2:
        return None
    modes = [m.decode() if isinstance(m, bytes) else m for m in a["nodes_modes"]]
    tree, ids = a["nodes_treeids"], a["nodes_nodeids"]
    index = {(t, n): i for i, (t, n) in enumerate(zip(tree, ids))}
    splits = [i for i, m in enumerate(modes) if m != "LEAF"]
    # every class scored by the leaves (a binary export scores one: ONNX Runtime's 1 - s, s)
    if (not splits or any(modes[i] not in MODES for i in splits)
            or sorted(set(a["class_ids"])) != list(range(len(labels)))):
        return None
    column = {i: j for j, i in enumerate(splits)}
    leaves = {i: j for j, i in enumerate(i for i, m in enumerate(modes) if m == "LEAF")}
    leaf_true, leaf_false = [], []
    for t in sorted(set(tree)):
        stack = [(index[(t, 0)], ())]
        while stack:
            i, path = stack.pop()
            if modes[i] == "LEAF":
                for j, branch in path:
                    (leaf_true if branch else leaf_false).append((leaves[i], j))
                continue
            low, high = a["nodes_truenodeids"][i], a["nodes_falsenodeids"][i]  # x <= t, x > t
            if MODES[modes[i]][1]:
                low, high = high, low
            stack.append((index[(t, low)], path + ((column[i], True),)))
            stack.append((index[(t, high)], path + ((column[i], False),)))
    weights = np.zeros((len(leaves), len(labels)), dtype=np.float32)
    for t, n, c, w in zip(a["class_treeids"], a["class_nodeids"], a["class_ids"],
                          a["class_weights"]):
        weights[leaves[index[(t, n)]], c] += w
    base = np.asarray(a.get("base_values") or np.zeros(len(labels)), dtype=np.float32)
    if base.shape != (len(labels),):
        return None
    feature = np.asarray(a["nodes_featureids"])[splits]
    threshold = np.asarray(a["nodes_values"], dtype=np.float32)[splits]
    strict = [MODES[modes[i]][0] for i in splits]
    trees = Trees(feature, threshold, strict, leaf_true, leaf_false, weights, base, post)
    trees.classes = strings or None
    return trees


_COPIES: dict = {}  # (path, size, mtime, input shape) -> Trees with their input units


def read_copy(clf, shape: tuple[int, ...]) -> Trees | None:
    """``clf``'s trees where it is an ONNX tree ensemble (read once per file and input shape),
    their splits' temperatures scaled by its input units per pixel and their classes in the
    order of its label ids (string classes: the loader's ``file_classes``); None otherwise."""
    import torch

    from ..pixel.gradients import prepare

    path = getattr(clf, "path", None)
    if getattr(clf, "format", "") != "onnx" or path is None or not hasattr(clf, "contract"):
        return None
    stat = os.stat(path)
    key = (str(path), stat.st_size, stat.st_mtime_ns, tuple(shape))
    if key not in _COPIES:
        trees = read_trees(path)
        if trees is not None:
            with torch.no_grad():
                try:
                    unit = (prepare(clf.contract, torch.ones(1, *shape))
                            - prepare(clf.contract, torch.zeros(1, *shape))).reshape(-1)
                except RuntimeError:
                    unit = None
            if unit is None or len(unit) <= int(trees.feature.max()):
                trees = None
            else:
                trees.scale = unit.abs().clamp_min(1e-6)[trees.feature]
        _COPIES[key] = trees
    trees = _COPIES[key]
    return None if trees is None else trees.ordered(getattr(clf, "file_classes", None))


def tree_copy(clf, shape: tuple[int, ...], images: np.ndarray) -> Trees | None:
    """:func:`read_copy` where its exact copy labels ``images`` (the scan's first CHECK) as
    ``clf`` does; None otherwise."""
    import torch

    from ..pixel.gradients import prepare

    trees = read_copy(clf, shape)
    if trees is None:
        return None
    x = np.ascontiguousarray(images[:CHECK], dtype=np.float32)
    if getattr(clf, "has_scores", False):  # scores, not only labels (the inputs may share one)
        labels, logp = clf.predict_scores(x)
    else:
        labels, logp = clf.predict(x), None
    with torch.no_grad():
        prepared = prepare(clf.contract, torch.from_numpy(x)).reshape(len(x), -1)
        copied = trees.log_scores(prepared).exp().numpy()
    same = logp is None or np.allclose(np.exp(logp), copied, atol=1e-4)
    return trees if same and np.array_equal(copied.argmax(1), labels) else None


def tree_models(generator, classifiers, images) -> dict:
    """{name: Trees} for the models :func:`search_trees` can walk: ONNX tree ensembles read and
    checked by :func:`tree_copy`, through an image generator that gives gradients."""
    if not getattr(generator, "gradients", False) or getattr(generator, "decoder", None) is None:
        return {}
    shape = tuple(generator.image_shape)
    found = {}
    for clf in classifiers:
        trees = tree_copy(clf, shape, np.asarray(images))
        if trees is not None:
            found[clf.name] = trees
    return found


def search_trees(generator, trees: Trees, clf, x: np.ndarray, z0: np.ndarray, base: np.ndarray,
                 target: np.ndarray, basis: np.ndarray | None, steps: int):
    """FMN on the soft copy's margin in the active directions ``basis`` (None: all): (z_star
    (m, d), norm (m,), found (m,) bool); the caller asks ``predict``. Pairs are searched in runs
    of gradient.ROWS, fewer where CELLS / splits is less (the backward pass keeps a few rows x
    splits arrays)."""
    from .gradient import ROWS, in_rows
    from .subspace import one_torch_thread

    rows = min(ROWS, max(1, CELLS // max(1, len(trees.feature))))
    with one_torch_thread():
        z_star, norm = in_rows(lambda at: _search(generator, trees, clf, x[at], z0[at], base[at],
                                                  target[at], basis, steps), len(z0), rows)
    return z_star, norm, np.isfinite(norm)


def _search(generator, trees: Trees, clf, x, z0, base, target, basis, steps):
    import torch

    from ..pixel.gradients import class_margin, prepare
    from .gradient import fmn, renderer

    m, d = z0.shape
    shape = tuple(generator.image_shape)
    zt, render = renderer(generator, x, z0, base)
    device = zt.device  # the generator's; the copy runs on the CPU
    v = (None if basis is None
         else torch.from_numpy(np.ascontiguousarray(basis, dtype=np.float32)).to(device))
    own = torch.from_numpy(target.astype(np.int64))

    def margin(y, k):
        candidate = render(y if v is None else y @ v.T).cpu()
        prepared = prepare(clf.contract, candidate.reshape(m, *shape)).reshape(m, -1)
        temperature = T0 * (T1 / T0) ** (k / max(1, steps - 1))
        with torch.no_grad():
            flipped = trees.log_scores(prepared.detach()).argmax(1) != own
        mk = class_margin(trees.log_scores(prepared, temperature), own)
        return mk.to(device), flipped.to(device)

    y, norm = fmn(margin, m, d if v is None else v.shape[1], steps, device)
    delta = y if v is None else y @ v.T
    return (zt + delta).cpu().numpy().astype(np.float32), norm
