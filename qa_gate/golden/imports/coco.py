"""``coco-captions`` (``captions_*.json``) and ``karpathy`` (``dataset_coco.json``, ``dataset_flickr30k.json``,
``dataset_flickr8k.json``): one sample per image, its first caption as ``caption`` and the rest as ``references``.

COCO: ``images[{id, file_name}]`` and ``annotations[{image_id, caption}]``, captions in file order;
the sample id and the tag ``coco_id`` are the image id. Karpathy: ``images[{filepath?, filename,
split, sentences[{raw}]}]``; the id is the file name's stem, the tag ``karpathy_split`` the split
(``--split test`` keeps one), ``coco_id`` the ``cocoid`` where there is one. Both are read item by
item (:mod:`.streaming_json`); COCO holds the captions of the images while it pairs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from qa_gate.errors import GoldenError
from qa_gate.golden.imports.record import FileImage, Reader, ReadSettings, Record, inside, need_images, text_id
from qa_gate.golden.imports.streaming_json import scan

KARPATHY_SPLITS = ("train", "restval", "val", "test")


def _captioned(texts: list[str]) -> dict[str, Any]:
    return {"caption": texts[0], "references": texts[1:] or None}


def _field(item: Any, name: str, where: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(item, dict) or not isinstance(item.get(name), kind) or isinstance(item.get(name), bool):
        got = item.get(name) if isinstance(item, dict) else item
        raise GoldenError(f"{where}: field {name!r} is {got!r}; expected {getattr(kind, '__name__', 'a value')}")
    return item[name]


def coco_captions(settings: ReadSettings) -> Reader:
    """Images of COCO captions files, each with its captions."""
    root = need_images(settings, "coco-captions")

    def records() -> Iterator[Record]:
        for source in settings.sources:
            images: list[tuple[str, str, str]] = []
            captions: dict[str, list[str]] = {}
            counts = {"images": 0, "annotations": 0}
            for key, item, value in scan(source):
                if not item or key not in counts:
                    continue
                where = f"{source.name}: {key}[{counts[key]}]"
                counts[key] += 1
                if key == "images":
                    image_id = text_id(_field(value, "id", where, (int, str)), where)
                    images.append((image_id, str(_field(value, "file_name", where, str)), where))
                else:
                    image_id = text_id(_field(value, "image_id", where, (int, str)), where)
                    captions.setdefault(image_id, []).append(_field(value, "caption", where, str).strip())
            if not counts["images"]:
                raise GoldenError(f"{source}: no 'images' array; expected a COCO captions file "
                                  "(images[id, file_name], annotations[image_id, caption])")
            for image_id, file_name, where in images:
                texts = captions.pop(image_id, [])
                image = FileImage(root, inside(root, file_name, f"{where}: sample {image_id!r}"))
                yield Record(image_id, where, image, _captioned(texts) if texts else {}, {"coco_id": image_id},
                             None if texts else "no caption")
    return records


def karpathy(settings: ReadSettings) -> Reader:
    """Images of a Karpathy split file, optionally of one ``--split``."""
    root = need_images(settings, "karpathy")
    if settings.split is not None and settings.split not in KARPATHY_SPLITS:
        raise GoldenError(f"--split {settings.split!r}: expected one of {', '.join(KARPATHY_SPLITS)} (Karpathy splits)")

    def records() -> Iterator[Record]:
        for source in settings.sources:
            index = 0
            for key, item, value in scan(source):
                if key != "images" or not item:
                    continue
                where = f"{source.name}: images[{index}]"
                index += 1
                split = str(_field(value, "split", where, str))
                if settings.split is not None and split != settings.split:
                    continue
                filename = str(_field(value, "filename", where, str))
                rel = f"{value['filepath']}/{filename}" if value.get("filepath") else filename
                texts = [str(_field(s, "raw", f"{where}.sentences", str)).strip()
                         for s in _field(value, "sentences", where, list)]
                sample_id = PurePosixPath(filename).stem
                tags = {"karpathy_split": split}
                if value.get("cocoid") is not None:
                    tags["coco_id"] = str(value["cocoid"])
                image = FileImage(root, inside(root, rel, f"{where}: sample {sample_id!r}"))
                yield Record(sample_id, where, image, _captioned(texts) if texts else {}, tags,
                             None if texts else "no caption")
    return records
