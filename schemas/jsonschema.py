"""One JSON Schema file per topic, generated from the pydantic models.

Inbound topics are described as producers must write them (validation mode),
outbound ones as the worker writes them (serialization mode). Consumers should
ignore fields they do not know: later schema versions may add some.
"""

from __future__ import annotations

import json
from pathlib import Path

from schemas.topics import CONTRACTS, Contract

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def topic_schema(contract: Contract) -> dict:
    mode = "validation" if contract.direction == "in" else "serialization"
    body = contract.model.model_json_schema(mode=mode)
    header = {
        "$schema": DIALECT,
        "$id": f"{contract.name}.schema.json",
        "title": f"{contract.name} ({contract.model.__name__})",
        "description": f"{contract.description} {' '.join((body.pop('description', '') or '').split())}".strip(),
        "x-kafka-topic": contract.name if contract.kafka else None,
        "x-kafka-key": contract.key,
    }
    return {**{k: v for k, v in header.items() if v is not None}, **{k: v for k, v in body.items() if k != "title"}}


def render(contract: Contract) -> str:
    return json.dumps(topic_schema(contract), indent=2, sort_keys=False) + "\n"


def file_name(contract: Contract) -> str:
    return f"{contract.name}.schema.json"


def export(directory: str | Path) -> list[Path]:
    """Write every topic's schema into `directory`; returns the files written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for contract in CONTRACTS:
        path = directory / file_name(contract)
        path.write_text(render(contract))
        written.append(path)
    return written


def stale(directory: str | Path) -> list[str]:
    """Names of schema files in `directory` that are missing or differ from the models."""
    directory = Path(directory)
    out = []
    for contract in CONTRACTS:
        path = directory / file_name(contract)
        if not path.exists() or path.read_text() != render(contract):
            out.append(file_name(contract))
    return out
