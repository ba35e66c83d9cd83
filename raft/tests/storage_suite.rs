//! openraft's own storage test suite against Shoal's log store and state machine.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use openraft::testing::log::{StoreBuilder, Suite};
use openraft::type_config::TypeConfigExt;
use openraft::StorageError;
use shoal_engine::EngineConfig;
use shoal_raft::state::StateMachine;
use shoal_raft::store::{Db, LogStore};
use shoal_raft::TypeConfig;

fn engine_config() -> EngineConfig {
    EngineConfig::new("000000000000", "us-east-1")
}

/// Every store it builds is a new group in one shared database, so the suite also checks that
/// groups sharing a database never see each other's entries, votes or purges.
struct SharedDbBuilder {
    // Fields drop in order: the database closes before its directory is removed.
    db: Arc<Db>,
    dir: tempfile::TempDir,
    next_group: AtomicU32,
}

impl StoreBuilder<TypeConfig, LogStore, StateMachine, ()> for SharedDbBuilder {
    async fn build(&self) -> Result<((), LogStore, StateMachine), StorageError<TypeConfig>> {
        let group = self.next_group.fetch_add(1, Ordering::SeqCst);
        let snapshots = self.dir.path().join(format!("snapshots/{group}"));
        let state_machine = StateMachine::open(
            group,
            snapshots,
            engine_config(),
            shoal_raft::clock::ClusterClock::system(),
            self.db.clone(),
            std::sync::Arc::new(shoal_raft::format::FixedLevel(2)),
        )
        .map_err(|e| StorageError::read(TypeConfig::err_from_error(&e)))?;
        Ok(((), self.db.log_store(group), state_machine))
    }
}

#[test]
fn test_openraft_storage_suite_on_groups_sharing_one_database() {
    TypeConfig::run(async {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("db")).unwrap();
        let builder = SharedDbBuilder { db, dir, next_group: AtomicU32::new(1) };
        Suite::test_all(builder).await.unwrap();
    });
}
