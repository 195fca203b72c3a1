"""Why an item is (not) in a user's recommendations, read off one explained request.

The answer comes from the trace the pipeline recorded while computing the user's page (the
same code path as a normal request) plus two probes that reuse the pipeline's own functions:
the filters run on the item alone (which rule would drop it), and each generator that ran is
asked again for its whole ranking (``n`` = the catalogue) to tell how far from being retrieved
the item was. Nothing here scores or filters by a rule of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .candidates import Proposal, Reason, merge
from .context import PipelineInput
from .explain import num
from .filters import apply_filters
from .generators import GENERATORS
from .run import PipelineResult
from .trace import Trace


@dataclass(frozen=True)
class WhyNot:
    outcome: (
        str  # served | never_retrieved | filtered | scored_too_low | diversity | exploration | unknown_item
    )
    stage: str  # catalogue | filter | retrieve | score | rank
    sentence: str
    evidence: dict[str, Any]


_RULES = {
    "unavailable": "{t} is not in the current catalogue snapshot, so it is never served.",
    "seen": "{u} already interacted with {t}, and items from a user's history are not recommended again.",
    "not_interested": "{u} marked {t} as not interested, so it is filtered out.",
    "request_exclude": "The request excluded {t} by id.",
    "request_exclude_genres": "The request excluded a genre of {t}.",
}


def filter_rule(inp: PipelineInput, pos: int) -> str | None:
    """The first filter rule that drops the item for this user and request (None: it passes)."""
    probe = merge([("probe", Proposal(np.asarray([pos], np.int64), np.zeros(1), (Reason("", 0),)))])
    dropped: dict[str, np.ndarray] = {}
    apply_filters(inp.bundle, inp.state, inp.params, probe, dropped)
    return next(iter(dropped), None)


def generator_ranks(inp: PipelineInput, trace: Trace, pos: int) -> dict[str, dict[str, Any]]:
    """Per generator that ran: the item's 1-based rank and score in its whole ranking (None: absent)."""
    d = trace.detail
    out: dict[str, dict[str, Any]] = {}
    if d is None or d.context is None:
        return out
    full = replace(d.context, n=len(inp.bundle.item_ids))
    for name, kind in trace.generator_failures:
        out[name] = {"rank": None, "score": None, "error": kind}
    for name in d.generators:
        try:
            p = GENERATORS[name](full)
        except Exception as e:  # evidence only: a generator that cannot list everything says so
            out[name] = {"rank": None, "score": None, "error": type(e).__name__}
            continue
        hit = np.flatnonzero(p.item_idx == pos)
        rank = int(hit[0]) + 1 if len(hit) else None
        score = num(p.scores[hit[0]]) if len(hit) else None
        out[name] = {"rank": rank, "score": score, "listed": len(p), "cutoff": d.context.n}
    return out


def why_not(inp: PipelineInput, result: PipelineResult, trace: Trace, item_id: str) -> WhyNot:
    """The outcome of ``item_id`` in the explained request ``inp`` -> ``result``."""
    b, u = inp.bundle, inp.user_id
    pos = b.position.get(item_id)
    if pos is None:
        return WhyNot(
            "unknown_item",
            "catalogue",
            f"{item_id} is not an item of the catalogue model {b.version} serves.",
            {"model_version": b.version},
        )
    t = b.titles[pos] or item_id
    base: dict[str, Any] = {"model_version": b.version, "title": b.titles[pos], "cold_start": result.cold}
    rule = filter_rule(inp, pos)
    if rule is not None:
        ev = {**base, "rule": rule, "genres": list(b.genres_of[pos])}
        return WhyNot("filtered", "filter", _RULES[rule].format(t=t, u=u), ev)
    page_end = inp.params.offset + inp.params.k
    served = np.flatnonzero(result.ranked.item_idx == pos)
    if len(served) and served[0] < page_end:
        j = int(served[0])
        ev = {
            **base,
            "position": j + 1,
            "score": num(result.ranked.score[j]),
            "sources": result.ranked.source(j),
        }
        ev["reason"] = result.ranked.reason(j)
        sentence = f"{t} is served to {u} at position {j + 1} ({ev['sources']}: {ev['reason']})."
        return WhyNot("served", "rank", sentence, ev)
    if not len(served):
        return _never_retrieved(inp, trace, pos, t, base)
    return _ranked_out(inp, result, trace, pos, int(served[0]), t, base)


def _never_retrieved(inp: PipelineInput, trace: Trace, pos: int, t: str, base: dict[str, Any]) -> WhyNot:
    ranks = generator_ranks(inp, trace, pos)
    ev = {**base, "generators": ranks}
    ranked = [(r["rank"], g) for g, r in ranks.items() if r["rank"] is not None]
    if ranked:
        best, gen = min(ranked)
        n = ranks[gen]["cutoff"]
        sentence = (
            f"No generator proposed {t} for {inp.user_id}: its best rank is {best} under {gen}, "
            f"and each generator passes on only its top {n}."
        )
    else:
        names = ", ".join(ranks) or "none ran"
        sentence = f"No generator proposed {t} for {inp.user_id}: none of them ranks it at all ({names})."
    return WhyNot("never_retrieved", "retrieve", sentence, ev)


def _ranked_out(
    inp: PipelineInput, result: PipelineResult, trace: Trace, pos: int, at: int, t: str, base: dict[str, Any]
) -> WhyNot:
    """Retrieved, passed the filters, ranked at ``at`` (0-based) beyond the page: which step put it there."""
    d, k_end = trace.detail, inp.params.offset + inp.params.k
    ranked = result.ranked
    last = min(k_end, len(ranked)) - 1
    ev = {
        **base,
        "position": at + 1,
        "score": num(ranked.score[at]),
        "cutoff_score": num(ranked.score[last]) if last >= 0 else None,
        "cutoff_position": last + 1,
        "sources": ranked.source(at),
    }
    if d is not None and d.scored is not None:
        c = int(np.flatnonzero(d.scored.item_idx == pos)[0])
        by_score = d.before_diversity.index(c)
        diverse = d.after_diversity.index(c)
        ev.update(position_by_score=by_score + 1, position_after_diversity=diverse + 1)
        ev["heads"] = {h: num(v[c]) for h, v in d.heads.items()}
        if by_score < k_end <= diverse:
            cfg = inp.config
            ev.update(max_per_genre=cfg.diversity_max_per_genre, window=cfg.diversity_window)
            sentence = (
                f"{t} scored high enough for position {by_score + 1}, but the diversity step (at most "
                f"{cfg.diversity_max_per_genre} items per genre in the first {cfg.diversity_window}) "
                f"moved it to {diverse + 1}, off the page."
            )
            return WhyNot("diversity", "rank", sentence, ev)
        if diverse < k_end <= at:
            sentence = f"{t} was on the page at {diverse + 1}; exploration swapped it to {at + 1} to try another item."
            return WhyNot("exploration", "rank", sentence, ev)
    cut = ev["cutoff_score"]
    sentence = (
        f"{t} was retrieved ({ev['sources']}) but scored {ev['score']}, below {cut}, the score of the "
        f"last item on the page (position {last + 1}); it ranks {at + 1}."
    )
    return WhyNot("scored_too_low", "score", sentence, ev)
