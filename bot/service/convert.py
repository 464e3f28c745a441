"""Analysis (inference) <-> AnalysisRecord (storage): the bot layer is where the two meet."""

from __future__ import annotations

from dataclasses import asdict

from inference.result import Analysis, Coverage, Descriptors, Segment
from storage.records import AnalysisRecord


def analysis_to_record(analysis: Analysis) -> AnalysisRecord:
    return AnalysisRecord(
        content_hash=analysis.content_hash,
        model_version=analysis.model_version,
        embedding=analysis.embedding,
        duration_s=analysis.descriptors.duration_s,
        genres=dict(analysis.genres),
        descriptors=asdict(analysis.descriptors),
        tags=analysis.tags,
        timeline=[asdict(s) for s in analysis.timeline],
        is_music=analysis.is_music,
        extra={
            "coverage": asdict(analysis.coverage),
            "mood": dict(analysis.mood),
            "not_music_reason": analysis.not_music_reason,
            "music_confidence": analysis.music_confidence,
            "timings_ms": analysis.timings_ms,
        },
    )


def record_to_analysis(record: AnalysisRecord, title: str = "") -> Analysis:
    extra = record.extra
    return Analysis(
        model_version=record.model_version,
        embedding=record.embedding,
        genres=dict(record.genres),
        timeline=[Segment(**s) for s in record.timeline],
        tags=record.tags,
        descriptors=Descriptors(**record.descriptors),
        coverage=Coverage(**extra.get("coverage", {"duration_s": record.duration_s, "analyzed_s": record.duration_s, "segments": len(record.timeline), "sampled": False})),
        mood=dict(extra.get("mood", {})),
        is_music=record.is_music,
        not_music_reason=extra.get("not_music_reason"),
        music_confidence=extra.get("music_confidence", 1.0),
        content_hash=record.content_hash,
        title=title,
        timings_ms={},
    )
