"""A readable summary of ``model info``'s dict (what ``pr1bench model info`` prints; ``--json`` gives the dict).

Pure Python, no torch: it only rearranges what :func:`pr1bench.models.loading.model_info` read from the checkpoint's
config, processor config, manifest and ``bootstrap_eval.json``.
"""

from __future__ import annotations

from typing import Any


def _mb(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e6:.1f} MB"


def summary_rows(info: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) lines: name, identity, architecture, size, images, builder and pretraining recipe."""
    ident = info.get("identity") or {}
    m = info.get("manifest") or {}
    img = info.get("image") or {}
    rows = [
        ("name", ident.get("name") or "(no pr1bench manifest: a checkpoint pr1bench did not build)"),
        ("weights sha256", ident.get("weights_sha256") or "-"),
        ("shipped default", "yes" if ident.get("shipped") else "no"),
        ("architecture", f"{info.get('architecture')} ({info.get('model_type')}), {info.get('dtype')}"),
        ("parameters", f"{info['param_count']:,}" if info.get("param_count") else "?"),
        ("text", f"hidden {info.get('hidden_size')}, {info.get('num_layers')} layers, vocab {info.get('vocab_size')}"),
        ("vision", f"depth {info.get('vision_depth')}, patch {img.get('patch')}, merge {img.get('merge')}"),
        ("pixels", f"{img.get('min_pixels')} .. {img.get('max_pixels')}; visual tokens per square image "
                   + ", ".join(f"{k} px: {v}" for k, v in (info.get("visual_tokens") or {}).items())),
        ("disk", _mb(info.get("disk_bytes"))),
        ("path", str(info.get("path"))),
    ]
    if m:
        rows.append(("builder", f"version {m.get('builder_version')}, seed {m.get('seed')}, "
                                f"corpus seed {m.get('corpus_seed')}"))
    pt = m.get("pretrain")
    if pt:
        r = pt.get("recipe", {})
        rows += [
            ("recipe digest", str(pt.get("recipe_digest"))),
            ("pretraining", f"{pt.get('steps_done'):,} of {r.get('steps'):,} steps of {r.get('batch_size')}, "
                            f"lr {r.get('lr')}, vision stage {r.get('vision_steps', 0)} steps, "
                            f"{(pt.get('train_seconds') or 0) / 60:.1f} min on {pt.get('torch_threads')} thread(s)"),
            ("mixture", ", ".join(f"{k} {v.get('weight')}" for k, v in (r.get("mixture") or {}).items())),
        ]
        from pr1bench.train.pretrain import earlier_stages

        earlier = earlier_stages(m)
        if earlier:
            rows[-2] = (f"stage {len(earlier) + 1}", rows[-2][1] + f", from the output of stage {len(earlier)}")
        for i, e in enumerate(earlier, start=1):
            re_ = e.get("recipe", {})
            rows.append((f"stage {i}", f"recipe {e.get('recipe_digest')}: {e.get('steps_done'):,} steps, lr {re_.get('lr')}, "
                                       f"vision stage {re_.get('vision_steps', 0)} steps, "
                                       f"{(e.get('train_seconds') or 0) / 60:.1f} min"))
    elif m:
        rows.append(("pretraining", "none (random init: `pr1bench model bootstrap` pretrains it)"))
    return rows


def eval_rows(info: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """Per-task greedy evaluation recorded with the checkpoint: (task, metric, value, parse rate, n)."""
    ev = info.get("bootstrap_eval") or {}
    out = []
    for task, e in ev.items():
        value = e.get("value")
        out.append((task, str(e.get("metric")), "-" if value is None else f"{value:.3f}",
                    f"{e.get('parse_rate', float('nan')):.2f}", str(e.get("n"))))
    return out
