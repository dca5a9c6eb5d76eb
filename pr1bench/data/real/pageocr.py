"""PageOCR (``data.source: pageocr``): page images with their full text, one file per language.

Published layout (Perception-R1's ``eval/evaluate_ocr.py``): ``en_page_ocr.json`` and ``cn_page_ocr.json``
in ``--anno_dir``, each a JSON list of ``{image, conversations: [human "<image>\\nOCR this image: ", gpt
TEXT]}``; the images of a file are in ``--image_dir/<lang>_pdf_png/`` with ``<lang>`` the file's prefix
(``en``/``cn``), and every row of a file is scored.

So the **language comes from the file**, never from the text (an English page quoting one Chinese
character is still an English page, a Chinese-file page of digits still a Chinese one):

* ``data.annotations`` may contain ``{lang}``, filled from ``data.lang`` (``en``; ``zh``/``cn`` fill
  ``cn``, the released name); otherwise the file name's ``en`` / ``cn`` / ``zh`` token gives it
  (``en_page_ocr.json`` -> ``en``). ``data.lang`` contradicting the file name is a configuration error.
* a row's own ``lang`` | ``language`` field, when present, wins for that row (a merged file).
* no row is dropped for its language; a file whose language cannot be told is read with ``lang``
  ``unknown`` and its images are looked for in every ``<lang>_pdf_png/`` folder.

Row keys: image ``image`` | ``image_path`` | ``file_name`` (relative to ``data.images`` or its
``<lang>_pdf_png/`` sub-folder, or absolute); text ``text`` | ``answer`` | ``gt`` | ``ocr``, else the last
``gpt``/``assistant`` turn of ``conversations`` (``value`` or ``content``). No split is defined for
PageOCR, so one file is partitioned into disjoint train and eval parts (see the loader).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pr1bench.data.real.records import (
    BadRow,
    Context,
    Record,
    RecordSet,
    fill,
    first_key,
    image_candidates,
    map_rows,
    pick_existing,
    rows_for_split,
    split_images_dir,
)
from pr1bench.data.real.sources import register

IMAGE_KEYS = ("image", "image_path", "file_name")
TEXT_KEYS = ("text", "answer", "gt", "ocr")
LANGS = {"en": "en", "zh": "zh", "cn": "zh", "ch": "zh"}
#: Image sub-folders of the released layout, per language.
SUBDIRS = {"en": ("en_pdf_png",), "zh": ("cn_pdf_png", "zh_pdf_png"),
           "unknown": ("en_pdf_png", "cn_pdf_png", "zh_pdf_png")}
_FILE_LANG = re.compile(r"(?<![a-z])(en|cn|zh)(?![a-z])")


@register("pageocr", splits=("train", "test"), task_types=("ocr",))
def read(ctx: Context, split: str) -> RecordSet:
    """Records of one split; every row of the file, in the file's language."""
    lang = _lang(ctx)
    file_lang = "cn" if lang == "zh" else (lang or "")
    rows, files, how = rows_for_split(ctx, split, lang=file_lang)
    from_file = file_language(Path(files[0]))
    if lang and from_file and from_file != lang:
        raise ctx.error("data.lang", f"data.lang is {ctx.lang!r} but {files[0]} is a {from_file!r} file "
                                     f"(its name says so); fix data.lang or data.annotations")
    default = lang or from_file or "unknown"
    images = fill(split_images_dir(ctx, split), lang=file_lang)
    entries = map_rows(rows, lambda i, row: _record(i, row, images, default), files[0])
    return RecordSet(entries, files, how, f"text only (no coordinates); language {default} (from "
                                          f"{'data.lang' if lang else 'the file name' if from_file else 'nowhere'})")


def _lang(ctx: Context) -> str | None:
    if ctx.lang is None:
        return None
    lang = LANGS.get(ctx.lang.lower())
    if lang is None:
        raise ctx.error("data.lang", f"unknown language {ctx.lang!r}; use en or zh")
    return lang


def file_language(path: Path) -> str | None:
    """``en`` / ``zh`` from a file name token (``en_page_ocr.json``, ``cn_page_ocr.json``), else None."""
    found = {LANGS[m] for m in _FILE_LANG.findall(path.stem.lower())}
    return found.pop() if len(found) == 1 else None


def row_text(row: dict[str, Any]) -> str | None:
    """The page text: a text key, else the last assistant turn of ``conversations``."""
    text = first_key(row, TEXT_KEYS)
    if text is None and isinstance(row.get("conversations"), list):
        turns = [t for t in row["conversations"] if isinstance(t, dict)
                 and str(t.get("from", t.get("role", ""))).lower() in ("gpt", "assistant")]
        text = first_key(turns[-1], ("value", "content")) if turns else None
    return text if isinstance(text, str) else None


def _row_lang(row: dict[str, Any], default: str) -> str:
    given = first_key(row, ("lang", "language"))
    if isinstance(given, str) and given.lower() in LANGS:
        return LANGS[given.lower()]
    return default


def _record(i: int, row: dict[str, Any], images: Path, default: str) -> Record:
    text = row_text(row)
    if text is None or not text.strip():
        raise BadRow(f"no text (keys tried: {', '.join(TEXT_KEYS)}, conversations)",
                     fix="give the row the page text in text (or as the gpt turn of conversations)")
    lang = _row_lang(row, default)
    path = pick_existing(image_candidates(images, first_key(row, IMAGE_KEYS), SUBDIRS[lang]))
    return Record(key=f"{i:06d}", image_path=path, target={"text": text.strip()}, fields={}, meta={"lang": lang})
