"""Point-of-sale vendors: the mapping from a vendor's JSON to canonical events, beside its YAML examples."""

from sources.mapping import SourceMapping, apply_mapping, load_mappings, to_canonical

__all__ = ["SourceMapping", "apply_mapping", "load_mappings", "to_canonical"]
