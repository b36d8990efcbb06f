"""One SQLAlchemy engine per process, its schema kept current by the Alembic migrations shipped here.

SQLite (the default, one file in the data dir) runs in WAL mode behind one connection pool, so
readers never wait for the writer and concurrent writers queue on SQLite's busy timeout instead of
failing with "database is locked". ``LINKAGE_DATABASE_URL`` names a PostgreSQL server instead,
which several API replicas share. Migrations run at start-up under a lock (``BEGIN IMMEDIATE`` on
SQLite, an advisory lock on PostgreSQL), so processes starting together migrate once.

A SQLite file deleted under a running service is recreated (empty) on the next call; a corrupt one,
or an unreachable server, is a :class:`StorageError` naming the file or server and the fix.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, exc, make_url, text
from sqlalchemy.pool import NullPool

from assistant.errors import StorageError, os_reason
from assistant.settings import Settings

log = logging.getLogger("assistant.storage")

MIGRATIONS = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 7_317_001  # advisory lock id: one migrating process at a time
PG_INDEX_LOCK = 7_317_002  # advisory lock id: one indexer at a time on every host sharing the database
_BUSY_TIMEOUT_S = 30
_CONNECT_TIMEOUT_S = 10

T = TypeVar("T")


def database_url(settings: Settings) -> str:
    """The configured server, or the SQLite file in the data dir."""
    return settings.database_url.get_secret_value() or f"sqlite:///{settings.conversations_db}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; WAL keeps the file consistent
    cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_S * 1000}")
    cursor.close()


def _sqlite_manual_transactions(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # the driver's implicit BEGIN would come too late for a lock


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock before reading the schema version


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


class Database:
    """The engine for one database URL, migrated to the latest schema, with errors users can act on."""

    def __init__(self, url: str, pool_size: int = 5):
        try:
            self.url = make_url(url)
            self.is_sqlite = self.url.get_backend_name() == "sqlite"
            self.path = Path(self.url.database).resolve() if self.is_sqlite and self.url.database else None
            self._pool_size = pool_size
            self._lock = threading.Lock()
            self._file_id: tuple[int, int] | None = None
            self.engine = self._create_engine()
        except (exc.ArgumentError, exc.NoSuchModuleError, ImportError) as error:
            raise StorageError(
                f"LINKAGE_DATABASE_URL 无效（{type(error).__name__}）：应为 postgresql+psycopg://用户:密码@主机:5432/库名，"
                "或留空使用数据目录中的 SQLite。"
            ) from None
        self._guard(self._prepare)

    @property
    def where(self) -> str:
        """The file or server, for messages (never the password)."""
        return str(self.path) if self.path else self.url.render_as_string(hide_password=True)

    def _create_engine(self) -> Engine:
        if not self.is_sqlite:
            return create_engine(
                self.url, pool_size=self._pool_size, max_overflow=self._pool_size, pool_pre_ping=True,
                connect_args={"connect_timeout": _CONNECT_TIMEOUT_S},  # an unreachable host must not hang requests
            )
        engine = create_engine(
            self.url,
            pool_size=self._pool_size,
            max_overflow=self._pool_size,
            pool_timeout=_BUSY_TIMEOUT_S,
            connect_args={"timeout": _BUSY_TIMEOUT_S, "check_same_thread": False},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine

    def _prepare(self) -> None:
        """Create the file's folder and bring the schema to the latest migration."""
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        with self.engine.connect() as connection:
            if MigrationContext.configure(connection).get_current_revision() == head:
                self._remember_file()
                return
        migrator = create_engine(self.url, poolclass=NullPool, connect_args=(
            {"timeout": _BUSY_TIMEOUT_S} if self.is_sqlite else {"connect_timeout": _CONNECT_TIMEOUT_S}))
        if self.is_sqlite:
            event.listen(migrator, "connect", _sqlite_manual_transactions)
            event.listen(migrator, "begin", _begin_immediate)
        try:
            with migrator.begin() as connection:
                if connection.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_MIGRATION_LOCK})
                command.upgrade(alembic_config(connection), "head")
        finally:
            migrator.dispose()
        self._remember_file()

    def _remember_file(self) -> None:
        if self.path:
            stat = self.path.stat()
            self._file_id = (stat.st_dev, stat.st_ino)

    def _file_replaced(self) -> bool:
        """Whether the SQLite file was deleted or swapped since the schema was checked."""
        if not self.path:
            return False
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return True
        return (stat.st_dev, stat.st_ino) != self._file_id

    def _recreate(self) -> None:
        """Drop pooled connections (they still point at the old file) and migrate the new one."""
        with self._lock:
            if not self._file_replaced():
                return
            self.engine.dispose()
            if self.path and not self.path.exists():
                log.warning("对话数据库 %s 已不存在，已新建空的数据库", self.path)
                for leftover in (Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
                    leftover.unlink(missing_ok=True)  # a deleted database's log must not replay into the new one
            self._prepare()

    def _guard(self, work: Callable[[], T]) -> T:
        """Run ``work``, translating database failures into a StorageError that says what to do."""
        try:
            return work()
        except exc.DBAPIError as error:
            raise self._storage_error(error) from None
        except OSError as error:
            raise StorageError(f"无法使用对话数据库 {self.where}：{os_reason(error)}") from None

    def _storage_error(self, error: exc.DBAPIError) -> StorageError:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
        if self.is_sqlite and "locked" in reason:
            return StorageError(f"对话数据库 {self.where} 正忙（{reason}），请稍后重试。")
        if self.is_sqlite:
            return StorageError(
                f"对话数据库 {self.where} 已损坏或无法读取（{reason}）。请停止服务后把该文件移走或删除"
                "（删除会丢失对话记录），再重试：会自动新建空的数据库。"
            )
        return StorageError(f"无法使用对话数据库 {self.where}（{reason}）：请检查数据库服务是否运行、LINKAGE_DATABASE_URL 是否正确。")

    def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one transaction (committed when it returns)."""
        if self._file_replaced():
            self._guard(self._recreate)

        def transaction() -> T:
            with self.engine.begin() as connection:
                return work(connection)

        try:
            return transaction()
        except exc.DBAPIError as error:
            if not (self.is_sqlite and self._file_replaced()):
                raise self._storage_error(error) from None
        # deleted between the check and the call
        self._guard(self._recreate)
        return self._guard(transaction)

    def dispose(self) -> None:
        self.engine.dispose()


def shared_lock_connection(url: str) -> Connection:
    """An autocommit connection of its own for holding an advisory lock across a long task."""
    where = make_url(url).render_as_string(hide_password=True)
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": _CONNECT_TIMEOUT_S})
    try:
        return engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    except exc.DBAPIError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
        raise StorageError(f"无法连接数据库 {where}（{reason}）：请检查数据库服务是否运行、LINKAGE_DATABASE_URL 是否正确。") from None


def try_advisory_lock(connection: Connection, key: int, wait: float) -> bool:
    """Take PostgreSQL's advisory lock ``key``, trying for up to ``wait`` seconds.

    Session-level: held until the connection closes, so the server frees it when a holder dies.
    """
    deadline = time.monotonic() + wait
    while not connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True
