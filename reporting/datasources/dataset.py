"""`dataset` data sources: built-in, organisation-scoped datasets defined in code, chosen by name.

The config names the dataset (`{"dataset": "organization_members"}`); there is no query. A
dataset is a function `(organization_id, parameters) -> RowStream` registered with
`@register_dataset`, which also describes its parameters JSON-Schema style
(`{"role": {"type": "string", "enum": [...]}}`) so `parameter_names` can check a template's
schema against them. The function must give the named organisation's rows and no other's, and
stream them (`.iterator(chunk_size=…)` in batches), never a whole list. It gets every parameter
it declares, None for one the execution does not give. Modules that hold datasets (the
analytics app's) are imported from their AppConfig.ready(), so the registry is full before a
report runs.
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError

from accounts.models import Membership, Role
from reporting.datasources.base import (
    DataSourceError,
    RowStream,
    SpoolsItsStream,
    batched,
    config_keys_check,
)
from reporting.tables import Column

DATASET_BATCH_SIZE = 2000

DatasetRows = Callable[[Any, Mapping[str, Any]], RowStream]


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str
    parameters: Mapping[str, Mapping[str, Any]]
    rows: DatasetRows


DATASETS: dict[str, Dataset] = {}


def register_dataset(
    name: str, *, title: str, parameters: Mapping[str, Mapping[str, Any]] | None = None
) -> Callable[[DatasetRows], DatasetRows]:
    def register(rows: DatasetRows) -> DatasetRows:
        if name in DATASETS:
            raise ValueError(f"Two datasets are registered as {name!r}.")
        DATASETS[name] = Dataset(name=name, title=title, parameters=parameters or {}, rows=rows)
        return rows

    return register


class DatasetAdapter(SpoolsItsStream):
    source_type = "dataset"

    def validate_config(
        self, *, query: str, config: Mapping[str, Any], organization_id: Any
    ) -> None:
        if query.strip():
            raise DataSourceError(
                "A dataset data source takes no query: the dataset named in its config gives "
                "the rows."
            )
        _dataset(config)

    def parameter_names(self, *, query: str, config: Mapping[str, Any]) -> set[str]:
        return set(_dataset(config).parameters)

    def stream(
        self,
        *,
        query: str,
        config: Mapping[str, Any],
        parameters: Mapping[str, Any],
        organization_id: Any,
        batch_size: int = 2000,
    ) -> RowStream:
        dataset = _dataset(config)
        values = {name: parameters.get(name) for name in dataset.parameters}
        try:
            row_stream = dataset.rows(organization_id, values)
        except DatabaseError as error:
            raise _failure(dataset, error) from error
        return RowStream(columns=row_stream.columns, batches=_batches(dataset, row_stream.batches))

    def test(self, *, query: str, config: Mapping[str, Any], organization_id: Any) -> str:
        self.validate_config(query=query, config=config, organization_id=organization_id)
        dataset = _dataset(config)
        parameters = ", ".join(sorted(dataset.parameters)) or "none"
        return f"OK: dataset {dataset.name!r} ({dataset.title}); parameters: {parameters}"


def _dataset(config: Mapping[str, Any]) -> Dataset:
    config_keys_check(config, allowed={"dataset": "the dataset's name"}, kind="dataset")
    name = config.get("dataset")
    if not isinstance(name, str) or name not in DATASETS:
        raise DataSourceError(
            f"Unknown dataset {name!r}: choose one of {', '.join(sorted(DATASETS))}."
        )
    return DATASETS[name]


def _batches(
    dataset: Dataset, batches: Iterator[Sequence[Sequence[Any]]]
) -> Iterator[Sequence[Sequence[Any]]]:
    try:
        yield from batches
    except DatabaseError as error:
        raise _failure(dataset, error) from error


def _failure(dataset: Dataset, error: DatabaseError) -> DataSourceError:
    return DataSourceError(f"The dataset {dataset.name!r} could not be read: {error}")


# --- datasets --------------------------------------------------------------------------------


@register_dataset(
    "organization_members",
    title="Organisation members",
    parameters={
        "role": {
            "type": "string",
            "enum": list(Role.values),
            "description": "Only the members with this role.",
        }
    },
)
def organization_members(organization_id: Any, parameters: Mapping[str, Any]) -> RowStream:
    memberships = Membership.objects.filter(organization_id=organization_id)
    if parameters.get("role"):
        memberships = memberships.filter(role=parameters["role"])
    rows = memberships.order_by("user__username", "pk").values_list(
        "user__username", "user__email", "role", "created_at"
    )
    return RowStream(
        columns=[
            Column("username"),
            Column("email"),
            Column("role"),
            Column("joined_at", "datetime"),
        ],
        batches=batched(rows.iterator(chunk_size=DATASET_BATCH_SIZE), DATASET_BATCH_SIZE),
    )
