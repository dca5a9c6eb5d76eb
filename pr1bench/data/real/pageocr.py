"""PageOCR (``data.source: pageocr``): page images with their full text, English and Chinese.

Assumed format (Perception-R1's ``en_page_ocr.json`` / ``cn_page_ocr.json``): a JSON list (or
JSONL) of objects with

* image: ``image`` | ``image_path`` | ``file_name``, relative to ``data.images`` or to its
  ``<lang>_pdf_png/`` sub-folder (``en_pdf_png``, ``cn_pdf_png``; the released layout), or absolute;
* text: ``text`` | ``answer`` | ``gt`` | ``ocr``, else the last ``gpt``/``assistant`` turn of
  ``conversations`` (``value`` or ``content``);
* optional ``lang`` | ``language`` (``en``, ``zh``; ``cn`` is read as ``zh``) and ``split``.

``data.lang`` (``en`` or ``zh``) keeps one language: rows with a language field are filtered by
it, rows without one are classified by whether their text contains CJK characters. Paths may
contain ``{lang}``, filled with ``en``/``cn`` (the released file names). No split is defined for
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
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@register("pageocr", splits=("train", "test"), task_types=("ocr",))
def read(ctx: Context, split: str) -> RecordSet:
    """Records of one split in the task's language."""
    lang = _lang(ctx)
    file_lang = "cn" if lang == "zh" else (lang or "")
    rows, files, how = rows_for_split(ctx, split, lang=file_lang)
    images = fill(split_images_dir(ctx, split), lang=file_lang)
    if lang:
        rows = [r for r in rows if not isinstance(r, dict) or _row_lang(r) == lang]
    entries = map_rows(rows, lambda i, row: _record(i, row, images))
    return RecordSet(entries, files, how, "text only (no coordinates)")


def _lang(ctx: Context) -> str | None:
    if ctx.lang is None:
        return None
    lang = LANGS.get(ctx.lang.lower())
    if lang is None:
        raise ctx.error("data.lang", f"unknown language {ctx.lang!r}; use en or zh")
    return lang


def row_text(row: dict[str, Any]) -> str | None:
    """The page text: a text key, else the last assistant turn of ``conversations``."""
    text = first_key(row, TEXT_KEYS)
    if text is None and isinstance(row.get("conversations"), list):
        turns = [t for t in row["conversations"] if isinstance(t, dict)
                 and str(t.get("from", t.get("role", ""))).lower() in ("gpt", "assistant")]
        text = first_key(turns[-1], ("value", "content")) if turns else None
    return text if isinstance(text, str) else None


def _row_lang(row: dict[str, Any]) -> str:
    given = first_key(row, ("lang", "language"))
    if isinstance(given, str) and given.lower() in LANGS:
        return LANGS[given.lower()]
    return "zh" if _CJK.search(row_text(row) or "") else "en"


def _record(i: int, row: dict[str, Any], images: Path) -> Record:
    text = row_text(row)
    if text is None or not text.strip():
        raise BadRow(f"no text (keys tried: {', '.join(TEXT_KEYS)}, conversations)")
    lang = _row_lang(row)
    sub = ("en_pdf_png",) if lang == "en" else ("cn_pdf_png", "zh_pdf_png")
    path = pick_existing(image_candidates(images, first_key(row, IMAGE_KEYS), sub))
    return Record(key=f"{i:06d}", image_path=path, target={"text": text.strip()}, fields={},
                  meta={"lang": lang})
