"""Statements of the hottest paths (API sign-in, a submission), written once per process from
the models' metadata instead of being composed by the ORM on every call.

Why our own: a submission runs about fifteen statements, and the ORM rebuilds each one on each
call (lookups, joins, column lists, converters), which measured 55 % of a submission's CPU
against 10 % for the database itself (docs/performance.md). No maintained library caches a
compiled queryset. Here a statement's SQL is built once per database vendor from the models
(table and column names come from the models and are quoted; every value is a parameter), and
rows become model instances through Django's own converters and Model.from_db, so callers get
the objects the ORM would have given them. Everything else keeps using the ORM.
"""

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connection, models
from django.db.models import signals
from django.db.models.expressions import Col

Converter = Callable[[Any, Any, Any], Any]

_lock = threading.Lock()


@dataclass(frozen=True)
class _Part:
    """One model of a joined SELECT: where its columns sit in the row, how to convert them."""

    model: type[models.Model]
    alias: str
    start: int
    attnames: tuple[str, ...]
    converters: tuple[tuple[tuple[Converter, ...], Col], ...]
    parent: int  # index of the part holding the foreign key; -1 for the main model
    link: models.ForeignKey[Any, Any] | None
    nullable: bool


def _column(field: models.Field[Any, Any]) -> str:
    assert field.column is not None  # concrete fields always have one
    return field.column


def _converters(field: models.Field[Any, Any], alias: str) -> tuple[tuple[Converter, ...], Col]:
    # The same list the ORM's compiler asks for (backend first, then the field's own). The bound
    # backend methods read settings only (time zone), so one list serves every thread.
    column = field.get_col(alias)
    found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
    return tuple(found), column


class Select[M: models.Model]:
    """A SELECT of one model and some of its forward foreign keys (select_related's paths, such
    as "procedure__organisation"), each joined object cached on its parent as the ORM does.

    `where` is SQL with %s parameters in which "{field}" stands for a column of the main model
    and "{path.field}" for one of a joined model ("{user.is_active}"); `params` names the field
    each %s compares with, so values are converted for the database as the ORM would.
    """

    def __init__(
        self,
        model: type[M],
        related: Sequence[str] = (),
        *,
        where: str,
        params: Sequence[str] = (),
    ) -> None:
        self.model = model
        self._related = tuple(related)
        self._where = where
        self._params = tuple(params)
        self._param_fields: tuple[models.Field[Any, Any], ...] | None = None
        self._built: dict[tuple[str, bool], tuple[str, tuple[_Part, ...]]] = {}

    def _field(self, name: str) -> tuple[int, models.Field[Any, Any]]:
        path, _, attribute = name.rpartition(".")
        part = self._related.index(path) + 1 if path else 0
        model: type[models.Model] = self.model
        for step in path.split("__") if path else ():
            link = model._meta.get_field(step)
            assert isinstance(link, models.ForeignKey)
            model = link.related_model
        field = model._meta.get_field(attribute)
        assert isinstance(field, models.Field)
        return part, field

    def _condition(self) -> str:
        quote = connection.ops.quote_name

        def column(match: re.Match[str]) -> str:
            part, field = self._field(match.group(1))
            return f"{quote(f't{part}')}.{quote(_column(field))}"

        return re.sub(r"\{([\w.]+)\}", column, self._where)

    def _values(self, values: Sequence[Any]) -> list[Any]:
        if self._param_fields is None:
            self._param_fields = tuple(self._field(name)[1] for name in self._params)
        if len(values) != len(self._param_fields):
            raise TypeError(f"{len(self._param_fields)} values expected, {len(values)} given.")
        return [
            field.get_db_prep_value(value, connection, prepared=False)
            for field, value in zip(self._param_fields, values, strict=True)
        ]

    def _build(self, lock: bool) -> tuple[str, tuple[_Part, ...]]:
        quote = connection.ops.quote_name
        parts: list[_Part] = []
        joins: list[str] = []
        paths = {"": 0}
        start = 0

        def add(model: type[models.Model], parent: int, link: Any, nullable: bool) -> None:
            nonlocal start
            alias = f"t{len(parts)}"
            fields = model._meta.concrete_fields
            parts.append(
                _Part(
                    model=model,
                    alias=alias,
                    start=start,
                    attnames=tuple(f.attname for f in fields),
                    converters=tuple(_converters(f, alias) for f in fields),
                    parent=parent,
                    link=link,
                    nullable=nullable,
                )
            )
            start += len(fields)

        add(self.model, -1, None, False)
        for path in self._related:
            head, _, name = path.rpartition("__")
            parent = paths[head]
            link = parts[parent].model._meta.get_field(name)
            assert isinstance(link, models.ForeignKey)
            nullable = link.null or parts[parent].nullable
            target: type[models.Model] = link.related_model
            paths[path] = len(parts)
            add(target, parent, link, nullable)
            kind = "LEFT OUTER JOIN" if nullable else "INNER JOIN"
            alias, parent_alias = quote(parts[-1].alias), quote(parts[parent].alias)
            key, holder = quote(_column(link.target_field)), quote(_column(link))
            joins.append(
                f"{kind} {quote(target._meta.db_table)} {alias} "
                f"ON {alias}.{key} = {parent_alias}.{holder}"
            )
        columns = ", ".join(
            f"{quote(part.alias)}.{quote(_column(f))}"
            for part in parts
            for f in part.model._meta.concrete_fields
        )
        sql = f"SELECT {columns} FROM {quote(self.model._meta.db_table)} {quote('t0')} "  # noqa: S608
        sql += " ".join(joins) + f" WHERE {self._condition()}"
        if lock and connection.features.has_select_for_update:
            # OF the main table: PostgreSQL cannot lock the nullable side of an outer join.
            of = f" OF {quote('t0')}" if connection.features.has_select_for_update_of else ""
            sql += f" FOR UPDATE{of}"
        return sql, tuple(parts)

    def _statement(self, lock: bool) -> tuple[str, tuple[_Part, ...]]:
        key = (connection.vendor, lock)
        built = self._built.get(key)
        if built is None:
            with _lock:
                built = self._built.setdefault(key, self._build(lock))
        return built

    def all(self, *values: Any, lock: bool = False) -> list[M]:
        sql, parts = self._statement(lock)
        with connection.cursor() as cursor:
            cursor.execute(sql, self._values(values))
            rows = cursor.fetchall()
        return [self._instance(row, parts) for row in rows]

    def one(self, *values: Any, lock: bool = False) -> M | None:
        found = self.all(*values, lock=lock)
        return found[0] if found else None

    def _instance(self, row: Sequence[Any], parts: tuple[_Part, ...]) -> M:
        objects: list[models.Model | None] = []
        for part in parts:
            values = list(row[part.start : part.start + len(part.attnames)])
            if part.nullable and values[part.attnames.index(part.model._meta.pk.attname)] is None:
                objects.append(None)
            else:
                for index, (converters, column) in enumerate(part.converters):
                    for convert in converters:
                        values[index] = convert(values[index], column, connection)
                objects.append(part.model.from_db(connection.alias, part.attnames, values))
            if part.link is not None:
                holder = objects[part.parent]
                if holder is not None:
                    part.link.set_cached_value(holder, objects[-1])
        main = objects[0]
        assert isinstance(main, self.model)
        return main


def _prepared(obj: models.Model, field: models.Field[Any, Any], add: bool) -> Any:
    return field.get_db_prep_save(field.pre_save(obj, add), connection)


def _send(signal: signals.ModelSignal, obj: models.Model, **extra: Any) -> None:
    sender = type(obj)
    if signal.has_listeners(sender):
        alias = connection.alias
        signal.send(sender, instance=obj, raw=False, using=alias, update_fields=None, **extra)


def update(obj: models.Model) -> None:
    """Write every column of an existing row, as obj.save() does (auto_now fields, pre_save
    and post_save signals included), without composing the UPDATE again."""
    _send(signals.pre_save, obj)
    meta = obj._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(_column(f))} = %s" for f in fields)
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {assignments} "  # noqa: S608
        f"WHERE {quote(_column(meta.pk))} = %s"
    )
    params = [_prepared(obj, f, False) for f in fields]
    params.append(meta.pk.get_db_prep_value(obj.pk, connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.rowcount != 1:
            raise DatabaseError(f"{meta.label} {obj.pk}: no row to update.")
    obj._state.adding = False
    _send(signals.post_save, obj, created=False)


def insert(obj: models.Model) -> None:
    """Insert a new row, as obj.save() does for a new object (auto_now_add fields, a database-
    assigned id read back, pre_save and post_save signals), without composing the INSERT again."""
    _send(signals.pre_save, obj)
    meta = obj._meta
    pk = meta.pk
    generated = isinstance(pk, models.AutoField) and obj.pk is None
    fields = [f for f in meta.concrete_fields if not (generated and f.primary_key)]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(_column(f)) for f in fields)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    if generated:
        sql += f" RETURNING {quote(_column(pk))}"
    params = [_prepared(obj, f, True) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if generated:
            (value,) = cursor.fetchone()
            setattr(obj, pk.attname, value)
    obj._state.adding = False
    obj._state.db = connection.alias
    _send(signals.post_save, obj, created=True)


def remember_related(obj: models.Model, name: str, objects: Sequence[models.Model]) -> None:
    """Hand a reverse relation's rows to obj as prefetch_related does, so that obj.<name>.all()
    returns them without a query (Django's prefetch cache: these private attributes are the
    ones prefetch_related_objects sets, stable since Django 1.x)."""
    manager = getattr(obj, name)
    queryset = manager.get_queryset()
    queryset._result_cache = list(objects)
    queryset._prefetch_done = True
    for related in objects:
        manager.field.set_cached_value(related, obj)
    if not hasattr(obj, "_prefetched_objects_cache"):
        obj._prefetched_objects_cache = {}  # type: ignore[attr-defined]
    obj._prefetched_objects_cache[name] = queryset  # type: ignore[attr-defined]


def remembered(obj: models.Model, name: str) -> list[Any] | None:
    """The rows remember_related (or prefetch_related) gave obj for a relation, else None."""
    cache: dict[str, Any] = getattr(obj, "_prefetched_objects_cache", {})
    queryset = cache.get(name)
    return None if queryset is None else list(queryset)
