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

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, models
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
    pk_index: int
    # (position, converters, column) for the fields that need converting; the others are used
    # as the database returns them
    converters: tuple[tuple[int, tuple[Converter, ...], Col], ...]
    parent: int  # index of the part holding the foreign key; -1 for the main model
    link: models.ForeignKey[Any, Any] | None
    nullable: bool


def _column(field: models.Field[Any, Any]) -> str:
    assert field.column is not None  # concrete fields always have one
    return field.column


def _converters(
    fields: Sequence[models.Field[Any, Any]], alias: str
) -> tuple[tuple[int, tuple[Converter, ...], Col], ...]:
    # The same lists the ORM's compiler asks for (backend first, then the field's own). The
    # bound backend methods read settings only (time zone), so one list serves every thread.
    found = []
    for index, field in enumerate(fields):
        column = field.get_col(alias)
        converters = connection.ops.get_db_converters(column)
        converters += column.get_db_converters(connection)
        if converters:
            found.append((index, tuple(converters), column))
    return tuple(found)


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
                    pk_index=[f.primary_key for f in fields].index(True),
                    converters=_converters(fields, alias),
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
        db = connections[DEFAULT_DB_ALIAS]
        with db.cursor() as cursor:
            cursor.execute(sql, self._values(values))
            rows = cursor.fetchall()
        return [self._instance(row, parts, db) for row in rows]

    def one(self, *values: Any, lock: bool = False) -> M | None:
        found = self.all(*values, lock=lock)
        return found[0] if found else None

    def _instance(self, row: Sequence[Any], parts: tuple[_Part, ...], db: Any) -> M:
        objects: list[models.Model | None] = []
        for part in parts:
            values = list(row[part.start : part.start + len(part.attnames)])
            if part.nullable and values[part.pk_index] is None:
                objects.append(None)
            else:
                for index, converters, column in part.converters:
                    for convert in converters:
                        values[index] = convert(values[index], column, db)
                objects.append(part.model.from_db(db.alias, part.attnames, values))
            if part.link is not None:
                holder = objects[part.parent]
                if holder is not None:
                    part.link.set_cached_value(holder, objects[-1])
        main = objects[0]
        assert isinstance(main, self.model)
        return main


def _send(signal: signals.ModelSignal, obj: models.Model, alias: str, **extra: Any) -> None:
    sender = type(obj)
    if signal.has_listeners(sender):
        signal.send(sender, instance=obj, raw=False, using=alias, update_fields=None, **extra)


@dataclass(frozen=True)
class _Write:
    sql: str
    fields: tuple[models.Field[Any, Any], ...]
    returns_key: bool


_writes: dict[tuple[str, type[models.Model], str], _Write] = {}


def _write(kind: str, model: type[models.Model], vendor: str, generated_key: bool) -> _Write:
    key = (kind if not generated_key else f"{kind}+key", model, vendor)
    found = _writes.get(key)
    if found is not None:
        return found
    meta = model._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    if kind == "update":
        fields = tuple(f for f in meta.concrete_fields if not f.primary_key)
        assignments = ", ".join(f"{quote(_column(f))} = %s" for f in fields)
        pk = quote(_column(meta.pk))
        sql = f"UPDATE {table} SET {assignments} WHERE {pk} = %s"  # noqa: S608
    else:
        fields = tuple(f for f in meta.concrete_fields if not (generated_key and f.primary_key))
        names = ", ".join(quote(_column(f)) for f in fields)
        marks = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608
        if generated_key:
            sql += f" RETURNING {quote(_column(meta.pk))}"
    with _lock:
        return _writes.setdefault(key, _Write(sql, fields, generated_key))


def update(obj: models.Model) -> None:
    """Write every column of an existing row, as obj.save() does (auto_now fields, pre_save
    and post_save signals included), without composing the UPDATE again."""
    db = connections[DEFAULT_DB_ALIAS]
    _send(signals.pre_save, obj, db.alias)
    write = _write("update", type(obj), db.vendor, False)
    params = [f.get_db_prep_save(f.pre_save(obj, False), db) for f in write.fields]
    params.append(obj._meta.pk.get_db_prep_value(obj.pk, db))
    with db.cursor() as cursor:
        cursor.execute(write.sql, params)
        if cursor.rowcount != 1:
            raise DatabaseError(f"{obj._meta.label} {obj.pk}: no row to update.")
    obj._state.adding = False
    _send(signals.post_save, obj, db.alias, created=False)


def insert(obj: models.Model) -> None:
    """Insert a new row, as obj.save() does for a new object (auto_now_add fields, a database-
    assigned id read back, pre_save and post_save signals), without composing the INSERT again."""
    db = connections[DEFAULT_DB_ALIAS]
    _send(signals.pre_save, obj, db.alias)
    pk = obj._meta.pk
    generated = isinstance(pk, models.AutoField) and obj.pk is None
    write = _write("insert", type(obj), db.vendor, generated)
    params = [f.get_db_prep_save(f.pre_save(obj, True), db) for f in write.fields]
    with db.cursor() as cursor:
        cursor.execute(write.sql, params)
        if write.returns_key:
            (value,) = cursor.fetchone()
            setattr(obj, pk.attname, value)
    obj._state.adding = False
    obj._state.db = db.alias
    _send(signals.post_save, obj, db.alias, created=True)


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
