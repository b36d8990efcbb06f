"""Loading the structured knowledge files (workflow, drafting templates) with one kind of error."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from assistant.errors import DocumentLoadError, os_reason

M = TypeVar("M", bound=BaseModel)


def load_yaml_model(path: Path, model: type[M], what: str) -> M:
    """Read a YAML file into ``model``; anything wrong is a one-line DocumentLoadError naming ``what``."""
    try:
        return model.model_validate(yaml.safe_load(Path(path).read_text(encoding="utf-8")))
    except OSError as exc:
        raise DocumentLoadError(path, f"无法读取{what}（{os_reason(exc)}）") from exc
    except yaml.YAMLError as exc:
        raise DocumentLoadError(path, f"{what}不是合法的 YAML") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise DocumentLoadError(path, f"{what}有误：{where} {first['msg']}".strip()) from exc
