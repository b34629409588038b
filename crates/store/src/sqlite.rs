//! SQLite backend (STUB, to be implemented).
use crate::*;

pub(crate) struct SqliteStore;

impl SqliteStore {
    pub(crate) async fn open(_path: &str) -> Result<Self> {
        Err(StoreError::Database("sqlite backend not implemented yet".into()))
    }
}
#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str { "sqlite" }
    async fn ping(&self) -> Result<()> { Ok(()) }
    async fn begin(&self, _ctx: &AccessContext) -> Result<Box<dyn Transaction>> { Err(StoreError::Database("todo".into())) }
    async fn read(&self, _ctx: &AccessContext, _rt: &str, _id: &str) -> Result<Option<Versioned>> { Ok(None) }
    async fn vread(&self, _ctx: &AccessContext, _rt: &str, _id: &str, _v: u64) -> Result<Option<Versioned>> { Ok(None) }
    async fn history(&self, _ctx: &AccessContext, _q: &HistoryQuery) -> Result<HistoryPage> { Ok(HistoryPage { entries: vec![], next: None, total: 0 }) }
    async fn find(&self, _ctx: &AccessContext, _rt: &str, _q: &IdentifierQuery) -> Result<Vec<String>> { Ok(vec![]) }
    async fn count(&self, _ctx: &AccessContext, _rt: Option<&str>) -> Result<u64> { Ok(0) }
}
