"""The three FINRA OTC transparency tiers and the labels users and files give them."""

from __future__ import annotations

import enum

import pyarrow as pa
import pyarrow.compute as pc

from otc.errors import ParameterError


class Tier(str, enum.Enum):
    NMS_TIER_1 = "NMS_TIER_1"
    NMS_TIER_2 = "NMS_TIER_2"
    OTC = "OTC"

    @classmethod
    def parse(cls, text: str) -> "Tier":
        """Accept any case, `-` or space for `_`, and FINRA's labels T1, T2, OTCE."""
        tier = _ALIASES.get(_fold(text))
        if tier is None:
            valid = ", ".join(t.value for t in cls)
            raise ParameterError(f"Invalid tier: {text!r}. Valid tiers: {valid}")
        return tier


def _fold(text: str) -> str:
    return text.strip().upper().replace("-", "_").replace(" ", "_")


_ALIASES: dict[str, Tier] = {t.value: t for t in Tier} | {
    "T1": Tier.NMS_TIER_1,
    "T2": Tier.NMS_TIER_2,
    "OTCE": Tier.OTC,
}


def canonical_tier_labels(labels: pa.Array) -> pa.Array:
    """Map each label to its Tier value, or null when it names no tier (vectorised)."""
    folded = pc.utf8_upper(pc.utf8_trim_whitespace(labels))
    folded = pc.replace_substring(pc.replace_substring(folded, "-", "_"), " ", "_")
    keys = pa.array(list(_ALIASES), pa.string())
    values = pa.array([t.value for t in _ALIASES.values()], pa.string())
    return pc.take(values, pc.index_in(folded, value_set=keys))
