"""Specialists that need the ``specialists`` extra (torch, timm, transformers).

Nothing here is imported by ``chainlang.scoring`` at import time: the
factories in :mod:`chainlang.scoring.specialists` import this module when a
``timm:`` or ``hf-*:`` specialist is built, and this module imports torch and
friends inside the constructors. Weights come only from local paths (or, for
timm, the user's existing hub cache); every load is ``local_files_only``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainlang.errors import ScoringError
from chainlang.scoring.metrics import IGNORE_INDEX, ScoredBox, normalise_label
from chainlang.scoring.specialists import ItemLike, SpecialistOptions, Task, path_digest


def _require(module: str) -> Any:
    """Import an optional dependency, or explain how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ScoringError(
            f"this specialist needs {module}: pip install 'chainlang[specialists]' ({e})"
        ) from None


def _batches(items: Iterable[ItemLike], size: int) -> Iterator[list[np.ndarray]]:
    """Group item images (H×W×3 uint8) into lists of at most ``size``."""
    batch: list[np.ndarray] = []
    for item in items:
        batch.append(item.image().pixels)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _hub_cached_weights(model_name: str) -> str:
    """The weights file of a timm model in the user's hub cache (never downloads)."""
    timm = _require("timm")
    hub = _require("huggingface_hub")
    cfg = timm.models.get_pretrained_cfg(model_name)
    repo = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if repo:
        for filename in ("model.safetensors", "pytorch_model.bin"):
            found = hub.try_to_load_from_cache(repo, filename)
            if isinstance(found, str):
                return found
    raise ScoringError(
        f"no local weights for timm model {model_name!r}: give a path "
        f"(timm:{model_name}@/path/weights.safetensors) or put them in the hub cache first"
    )


class TimmSpecialist:
    """A timm image classifier with local weights, mapping class index → label name."""

    task: Task = "label"

    def __init__(
        self, model_name: str, weights: str | os.PathLike[str] | None, options: SpecialistOptions
    ) -> None:
        if not options.labels:
            raise ScoringError("timm specialists need the label set (class index → name)")
        timm = _require("timm")
        self.labels = list(options.labels)
        path = str(weights) if weights is not None else _hub_cached_weights(model_name)
        if not Path(path).is_file():
            raise ScoringError(f"timm weights not found: {path}")
        self.name = f"timm:{model_name}"
        self.weights_digest = path_digest(path) + f"|k={len(self.labels)}"
        self.options = options
        try:
            model = timm.create_model(
                model_name, pretrained=False, num_classes=len(self.labels), checkpoint_path=path
            )
        except (RuntimeError, KeyError, ValueError) as e:
            raise ScoringError(f"cannot load {path} into timm model {model_name!r}: {e}") from None
        self.model = model.eval().to(options.device)
        config = timm.data.resolve_model_data_config(self.model)
        self.transform = timm.data.create_transform(**config, is_training=False)

    def predict(self, items: Iterable[ItemLike]) -> Iterator[str]:
        """Top-1 label names, batched under ``torch.inference_mode()``."""
        torch = _require("torch")
        from PIL import Image

        for batch in _batches(items, self.options.batch_size):
            x = torch.stack([self.transform(Image.fromarray(px)) for px in batch])
            with torch.inference_mode():
                logits = self.model(x.to(self.options.device))
            for idx in logits.argmax(dim=1).tolist():
                yield self.labels[idx]


class HFSpecialist:
    """A transformers model loaded from a local directory (``from_pretrained(dir)``).

    * ``depth``: ``AutoModelForDepthEstimation`` + ``post_process_depth_estimation``.
      Relative models (Depth Anything relative, DPT) predict inverse depth; it
      is negated so that larger means farther, as the paper turns its
      nearness into depth (``-x``). Metric models are returned as they are.
    * ``boxes``: ``AutoModelForObjectDetection`` + ``post_process_object_detection``,
      boxes clipped to the image, labels from ``config.id2label``.
    * ``semantic``: universal (EoMT, Mask2Former) or semantic segmentation
      models + ``post_process_semantic_segmentation``; class ids are mapped to
      the dataset's label set by normalised name (unknown names → 255).
    """

    def __init__(self, model_dir: str | os.PathLike[str], task: Task, options: SpecialistOptions):
        self.dir = Path(model_dir)
        if not self.dir.is_dir():
            raise ScoringError(f"model directory not found: {self.dir}")
        if task not in ("depth", "boxes", "semantic"):
            raise ScoringError(f"transformers specialists support depth, boxes, semantic: {task}")
        self.task: Task = task
        self.options = options
        self.name = f"hf-{task}:{self.dir.name}"
        self.weights_digest = path_digest(self.dir) + f"|thr={options.threshold}"
        tf = _require("transformers")
        try:
            self.processor = tf.AutoImageProcessor.from_pretrained(self.dir, local_files_only=True)
            self.model = self._load_model(tf).eval().to(options.device)
        except (OSError, ValueError, KeyError) as e:
            raise ScoringError(f"cannot load a {task} model from {self.dir}: {e}") from None
        self._class_map = self._label_map() if task == "semantic" else None

    def _load_model(self, tf: Any) -> Any:
        if self.task == "depth":
            return tf.AutoModelForDepthEstimation.from_pretrained(self.dir, local_files_only=True)
        if self.task == "boxes":
            return tf.AutoModelForObjectDetection.from_pretrained(self.dir, local_files_only=True)
        try:  # EoMT and Mask2Former are "universal" segmenters
            return tf.AutoModelForUniversalSegmentation.from_pretrained(
                self.dir, local_files_only=True
            )
        except ValueError:
            return tf.AutoModelForSemanticSegmentation.from_pretrained(
                self.dir, local_files_only=True
            )

    def _label_map(self) -> np.ndarray:
        """Model class id → dataset class index (255 where the name is unknown)."""
        id2label = {int(k): v for k, v in self.model.config.id2label.items()}
        size = max(id2label, default=-1) + 1
        if self.options.labels is None:
            if size > IGNORE_INDEX:
                raise ScoringError(f"{self.name}: {size} classes need a label set to map them")
            return np.arange(max(size, 1), dtype=np.int64)
        ours = {normalise_label(n): i for i, n in enumerate(self.options.labels)}
        table = np.full(max(size, 1), IGNORE_INDEX, dtype=np.int64)
        for k, name in id2label.items():
            table[k] = ours.get(normalise_label(name), IGNORE_INDEX)
        return table

    def predict(self, items: Iterable[ItemLike]) -> Iterator[Any]:
        """One prediction per item at the item's own image size."""
        torch = _require("torch")
        from PIL import Image

        for batch in _batches(items, self.options.batch_size):
            sizes = [(int(px.shape[0]), int(px.shape[1])) for px in batch]
            # PIL images: every processor backend accepts them (some reject read-only arrays)
            pil = [Image.fromarray(px) for px in batch]
            inputs = self.processor(images=pil, return_tensors="pt")
            # only tensors move; some processors add lists (EoMT's patch_offsets)
            inputs = {
                k: v.to(self.options.device) if isinstance(v, torch.Tensor) else v
                for k, v in inputs.items()
            }
            with torch.inference_mode():
                outputs = self.model(**inputs)
            yield from self._post(outputs, sizes)

    def _post(self, outputs: Any, sizes: Sequence[tuple[int, int]]) -> list[Any]:
        if self.task == "depth":
            res = self.processor.post_process_depth_estimation(outputs, target_sizes=sizes)
            maps = [r["predicted_depth"].float().cpu().numpy() for r in res]
            relative = getattr(self.model.config, "depth_estimation_type", "relative") != "metric"
            return [(-m if relative else m).astype(np.float32) for m in maps]
        if self.task == "boxes":
            res = self.processor.post_process_object_detection(
                outputs, threshold=self.options.threshold, target_sizes=sizes
            )
            return [self._boxes(r, h, w) for r, (h, w) in zip(res, sizes, strict=True)]
        res = self.processor.post_process_semantic_segmentation(outputs, target_sizes=sizes)
        return [self._to_dataset_classes(r.cpu().numpy()) for r in res]

    def _to_dataset_classes(self, ids: np.ndarray) -> np.ndarray:
        table = self._class_map if self._class_map is not None else self._label_map()
        ids = ids.astype(np.int64)
        known = (ids >= 0) & (ids < table.size)
        return np.where(known, table[np.where(known, ids, 0)], IGNORE_INDEX).astype(np.uint8)

    def _boxes(self, res: dict[str, Any], h: int, w: int) -> list[ScoredBox]:
        id2label = self.model.config.id2label
        boxes = res["boxes"].float().cpu().numpy()
        # transformers does not clip RT-DETR/D-FINE boxes to the image
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        out = []
        for (x0, y0, x1, y1), lab, score in zip(
            boxes.tolist(), res["labels"].tolist(), res["scores"].tolist(), strict=True
        ):
            name = id2label.get(int(lab), id2label.get(str(lab), str(lab)))
            out.append(ScoredBox(str(name), x0, y0, x1, y1, float(score)))
        return sorted(out, key=lambda b: -b.score)
