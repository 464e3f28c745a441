"""The party blend: one playlist fair to several people. Whoever is least satisfied so far picks
next, preferring tracks that also suit the others."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence

import numpy as np

from inference.recommend.catalog import Catalog
from inference.recommend.cold_start import cold_start_picks, cold_start_rows
from inference.recommend.config import DEFAULT_CONFIG, RecommendConfig
from inference.recommend.diversity import Selector
from inference.recommend.explain import explain
from inference.recommend.profile import build_profile
from inference.recommend.rank import exact_scores, exclusion_mask, top_rows
from inference.recommend.results import (
    NOTE_EMPTY_CATALOG,
    NOTE_PARTY_NO_LIKES,
    NOTE_POPULAR,
    NOTE_SAMPLE,
    MemberReport,
    PartyPick,
    PartyPlaylist,
    TasteProfile,
)

__all__ = ["blend_party"]


def blend_party(
    members: Mapping[Hashable, Sequence[int]],
    catalog: Catalog,
    n: int = 10,
    exclude: Iterable[int] = (),
    *,
    popular_ids: Sequence[int] = (),
    include_liked: bool = False,
    config: RecommendConfig = DEFAULT_CONFIG,
    seed: int = 0,
) -> PartyPlaylist:
    """One playlist fair to everyone in ``members`` (user id -> liked track ids).

    Each member's utility for a track is their best interest score, normalised so 0 is a typical
    catalog track and 1 is as good as their own top ``ceil(n / members)`` candidates. Drafting: the
    member with the lowest summed utility so far picks next (ties: fewest picks, then input
    order), from their least-served interest, the track maximising ``own + β·mean(others) -
    diversity penalty``. Members without likes are reported as "no likes yet"; if nobody has any,
    the playlist falls back to popular tracks or a varied sample.
    ``include_liked``: allow the members' own liked tracks (excluded by default).
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    exclude = list(exclude)
    profiles: dict[Hashable, TasteProfile] = {}
    if len(catalog):
        for uid, likes in members.items():
            p = build_profile(likes, catalog, config=config, seed=seed)
            if p is not None:
                profiles[uid] = p

    def reports(share=None, served=None, sat=None) -> list[MemberReport]:
        out = []
        for uid in members:
            if uid in profiles:
                out.append(
                    MemberReport(
                        uid,
                        "ok",
                        (share or {}).get(uid, 0),
                        (served or {}).get(uid, 0),
                        (sat or {}).get(uid),
                        profiles[uid],
                    )
                )
            else:
                out.append(MemberReport(uid, "no likes yet", 0, 0, None))
        return out

    if len(catalog) == 0:
        return PartyPlaylist([], reports(), NOTE_EMPTY_CATALOG, cold_start=not profiles)
    if not profiles:
        all_likes = [i for likes in members.values() for i in likes]
        rows, n_pop = cold_start_rows(
            catalog, exclusion_mask(catalog, exclude, all_likes), n, popular_ids, config, seed
        )
        picks = [
            PartyPick(p.track_id, p.score, p.reason, None, (), None, None)
            for p in cold_start_picks(rows, n_pop, catalog)
        ]
        note = f"{NOTE_PARTY_NO_LIKES} {NOTE_POPULAR if n_pop else NOTE_SAMPLE}"
        return PartyPlaylist(picks, reports(), note, cold_start=True)
    if n == 0:
        return PartyPlaylist([], reports())

    uids = list(profiles)
    mcount = len(uids)
    liked_all = [] if include_liked else [i for p in profiles.values() for i in p.liked_ids]
    excluded = exclusion_mask(catalog, exclude, liked_all)
    centroids = np.concatenate([profiles[u].centroids for u in uids])
    offsets = np.cumsum([0] + [len(profiles[u].clusters) for u in uids])
    sims = centroids @ catalog.columns  # [ΣK, N]
    if excluded.any():
        sims[:, excluded] = -np.inf
    fair = math.ceil(n / mcount)
    t = max(config.pool_per_cluster, 6 * fair)
    rows = np.unique(np.concatenate([top_rows(sims[c], t) for c in range(sims.shape[0])]))
    vecs = catalog.vectors(rows)
    rng = np.random.default_rng(seed)
    sample = rng.choice(len(catalog), min(len(catalog), config.party_sample), replace=False)
    svecs = catalog.vectors(sample)
    ssims = centroids @ svecs.T

    util = np.zeros((rows.size, mcount))
    assigned = np.zeros((rows.size, mcount), dtype=np.int64)
    best_sim = np.zeros((rows.size, mcount), dtype=np.float32)
    best_like = np.zeros((rows.size, mcount), dtype=np.int64)
    norm = np.zeros((rows.size, mcount))
    top = np.zeros((rows.size, mcount), dtype=bool)
    for j, u in enumerate(uids):
        sl = slice(offsets[j], offsets[j + 1])
        sc, bs, bl = exact_scores(profiles[u], vecs, sims[sl, rows].T, config.centroid_weight)
        assigned[:, j] = np.argmax(sc, axis=1)
        util[:, j] = sc.max(axis=1)
        best_sim[:, j], best_like[:, j] = bs, bl
        background = exact_scores(profiles[u], svecs, ssims[sl].T, config.centroid_weight)[0].max(
            axis=1
        )
        base = float(np.median(background))
        top[:, j] = util[:, j] >= np.quantile(background, 1.0 - config.serve_top_fraction)
        k_ref = min(fair, rows.size)
        ref = (
            float(np.partition(util[:, j], rows.size - k_ref)[rows.size - k_ref])
            if rows.size
            else base
        )
        norm[:, j] = (
            np.clip((util[:, j] - base) / (ref - base), 0.0, 1.0)
            if ref > base + 1e-9
            else (util[:, j] >= ref)
        )
    keep = np.ones(rows.size, dtype=bool)
    if not include_liked:
        keep = (best_sim < config.duplicate_cos).all(axis=1)

    sel = Selector(catalog, rows, vecs, n, config)
    sel.avail &= keep
    sat = np.zeros(mcount)
    share = np.zeros(mcount, dtype=np.int64)
    counts = [np.zeros(len(profiles[u].clusters), dtype=np.int64) for u in uids]
    cweights = [np.array([c.weight for c in profiles[u].clusters]) for u in uids]
    drafted: list[tuple[int, int, int, tuple[int, ...]]] = []
    while len(drafted) < n:
        elig = sel.eligible()
        if not elig.any():
            break
        j = int(np.lexsort((np.arange(mcount), share, sat))[0])
        has = np.bincount(assigned[elig, j], minlength=len(counts[j])) > 0
        fill = np.where(has, counts[j] / cweights[j], np.inf)
        c = int(np.lexsort((-cweights[j], fill))[0])
        others = (norm.sum(axis=1) - norm[:, j]) / max(mcount - 1, 1)
        value = norm[:, j] + config.party_others_weight * others - sel.penalty()
        value = np.where(elig & (assigned[:, j] == c), value, -np.inf)
        i = int(np.argmax(value))
        sel.take(i)
        serves = tuple(o for o in dict.fromkeys((j, *range(mcount))) if top[i, o])
        sat += norm[i]
        share[j] += 1
        counts[j][c] += 1
        drafted.append((i, j, c, serves))

    picks = []
    for i, j, c, serves in drafted:
        u = uids[j]
        track = catalog.tracks[int(catalog.ids[rows[i]])]
        liked = profiles[u].liked[int(best_like[i, j])]
        picks.append(
            PartyPick(
                track_id=track.track_id,
                score=float(util[i, j]),
                reason=explain(track, liked, float(best_sim[i, j]), who="they", config=config),
                for_member=u,
                serves=tuple(uids[o] for o in serves),
                closest_liked_id=liked.track_id,
                cluster=c,
            )
        )
    chosen = [i for i, *_ in drafted]
    satisfaction = {
        u: float(best_sim[chosen, j].mean()) if chosen else None for j, u in enumerate(uids)
    }
    shares = {u: int(share[j]) for j, u in enumerate(uids)}
    served = {u: sum(1 for *_, s in drafted if j in s) for j, u in enumerate(uids)}
    note = None
    if not picks:
        note = "Nothing new to play — everything that fits has been played or liked already."
    elif len(picks) < n:
        note = f"Only {len(picks)} track{'s' if len(picks) != 1 else ''} fit so far — the catalog is still small."
    return PartyPlaylist(picks, reports(shares, served, satisfaction), note)
