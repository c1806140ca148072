"""Stored video: decoding and sampling, jobs, and the per-job analyses (docs/video.md)."""
