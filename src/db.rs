//! Opening the database (SQLite file by default, PostgreSQL in production) and applying the
//! schema migrations.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr,
    TransactionTrait,
};

/// The database could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The SQLite file's directory could not be created.
    #[error("cannot create the directory for {path}: {source}")]
    Directory {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Connecting failed.
    #[error("cannot connect to the database: {0}")]
    Connect(DbErr),
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(DbErr),
}

/// The file path of a SQLite URL, when it names a file.
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// Connects to `url`, creating a SQLite file's directory when needed.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbError> {
    if let Some(path) = sqlite_path(url)
        && let Some(dir) = std::path::Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|source| DbError::Directory {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let mut options = ConnectOptions::new(url.to_string());
    options
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    if sqlite_path(url).is_some() || url.contains(":memory:") {
        // One writer at a time is SQLite's model; a small pool avoids lock contention.
        options.max_connections(4);
    }
    if sqlite_path(url).is_some() {
        // Write-ahead logging: a commit is one append and one fsync (the rollback journal
        // takes several), and readers never wait for the writer. `synchronous` stays FULL, so
        // a committed booking survives a power cut.
        options.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
        });
    }
    Database::connect(options).await.map_err(DbError::Connect)
}

/// Arbitrary key of the PostgreSQL advisory lock that serialises migrations.
const MIGRATION_LOCK_KEY: i64 = 0x6361_6c6c_6272_6467; // "callbrdg"

/// Applies every pending migration. On PostgreSQL several nodes may start at once, so the
/// migrations run in one transaction holding an advisory lock: the first node migrates, the
/// others wait and then find nothing to do.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbError> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Migrator::up(db, None).await.map_err(DbError::Migrate);
    }
    let txn = db.begin().await.map_err(DbError::Migrate)?;
    txn.execute_unprepared(&format!(
        "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
    ))
    .await
    .map_err(DbError::Migrate)?;
    Migrator::up(&txn, None).await.map_err(DbError::Migrate)?;
    txn.commit().await.map_err(DbError::Migrate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_files_use_write_ahead_logging() {
        let dir = std::env::temp_dir().join(format!("callbridge-wal-{}", std::process::id()));
        let url = format!("sqlite://{}/wal.db?mode=rwc", dir.display());
        let db = connect(&url).await.unwrap();
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                DbBackend::Sqlite,
                "PRAGMA journal_mode",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get_by_index::<String>(0).unwrap(), "wal");
        drop(db);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn sqlite_paths_are_found() {
        assert_eq!(
            sqlite_path("sqlite://data/callbridge.db?mode=rwc"),
            Some("data/callbridge.db")
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://localhost/x"), None);
    }
}
