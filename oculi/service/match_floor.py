"""The identity floor at a collection's size.

A search compares the query with every face of the collection, so a stranger's search
matches someone with probability close to faces x (false-match rate per comparison). The
floor keeps that below `strangers` (STRANGERS_PER_SEARCH unless the operator sets
OCULI_STRANGERS_PER_SEARCH; 0 turns the rule off) at any size: a search of N faces needs a
Similarity whose false-match rate (oculi.vision.similarity) is at most `strangers` / N.
The operator's floor (OCULI_MATCH_FLOOR) still applies on top.
"""

from __future__ import annotations

from oculi.vision.similarity import false_match_rate, similarity_at

# At most one search in a thousand by someone not in the collection matches anyone.
STRANGERS_PER_SEARCH = 1e-3


def size_floor(faces: int, strangers: float = STRANGERS_PER_SEARCH) -> float:
    """The lowest Similarity threshold that keeps a search of `faces` faces within
    `strangers` expected false matches per search (0: no such rule)."""
    if strangers <= 0:
        return 0.0
    return similarity_at(strangers / max(faces, 1))


def size_notice(
    name: str,
    asked: float,
    raised: float,
    faces: int,
    floor: float,
    strangers: float = STRANGERS_PER_SEARCH,
) -> str:
    """What the caller is told when the collection's size raised its threshold."""
    return (
        f"{name} {asked:g} raised to {raised:.3f} for a collection of {faces} faces: "
        f"at {raised:.3f} each comparison falsely matches with rate "
        f"{false_match_rate(raised):.1e}, so at most {strangers:g} of searches "
        f"by people not in the collection are expected to match anyone (the operator's "
        f"identity floor {floor:g}, OCULI_MATCH_FLOOR, is lower at this size)"
    )


def size_statement(faces: int, floor: float, strangers: float = STRANGERS_PER_SEARCH) -> str:
    """What a match means in a collection of `faces` faces (told with DescribeCollection):
    the threshold its searches run at by default, and the false matches expected there."""
    at = max(floor, size_floor(faces, strangers))
    rate = false_match_rate(at)
    return (
        f"searches of this collection's {faces} faces match at Similarity {at:.3f} or above "
        f"(the higher of the operator's identity floor {floor:g} and what {faces} faces "
        f"need); there each comparison falsely matches with rate {rate:.1e}, so about "
        f"{faces * rate:.1e} of searches by people not in the collection are expected to "
        "match anyone"
    )
