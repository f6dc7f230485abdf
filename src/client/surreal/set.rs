//! The set workload on SurrealDB ([`crate::workload::set`]): element `e`
//! of a run is the record `element:⟨<prefix>e<e>⟩` with fields `r` (the
//! run's prefix) and `e`; an add creates it, a read is one statement,
//! `SELECT VALUE e FROM element WHERE r = $r` (one statement: one
//! transaction). Classification as for registers: a read is `fail` on any
//! error; an add `fail` only when the error proves nothing was applied.

use serde_json::Value;

use super::{SurrealClient, proves_not_applied};
use crate::workload::Outcome;
use crate::workload::set::{SetOp, read_outcome};

/// The table of the set's elements.
pub const SET_TABLE: &str = "element";

impl SurrealClient {
    /// Run one set op and classify the answer.
    pub async fn set(&self, op: &SetOp) -> Outcome {
        let read = matches!(op, SetOp::Read);
        match tokio::time::timeout(self.timeout, self.set_call(op)).await {
            Err(_) => Outcome::timed_out(read, self.timeout),
            Ok(Ok(o)) => o,
            Ok(Err(e)) => {
                let text = format!("{} error: {}", e.kind_str(), e.message());
                if read || proves_not_applied(&e) {
                    Outcome::Fail(text)
                } else {
                    Outcome::Info(text)
                }
            }
        }
    }

    async fn set_call(&self, op: &SetOp) -> Result<Outcome, surrealdb::Error> {
        match *op {
            SetOp::Add(e) => {
                let mut r = self
                    .db
                    .query(format!(
                        "CREATE {SET_TABLE}:⟨{}e{e}⟩ SET r = $r, e = $e RETURN NONE",
                        self.prefix
                    ))
                    .bind(("r", self.prefix.clone()))
                    .bind(("e", e as i64))
                    .await?;
                let _: Vec<surrealdb::types::Value> = r.take(0)?;
                Ok(Outcome::Ok(Value::Null))
            }
            SetOp::Read => {
                let mut r = self
                    .db
                    .query(format!("SELECT VALUE e FROM {SET_TABLE} WHERE r = $r"))
                    .bind(("r", self.prefix.clone()))
                    .await?;
                let values: Vec<i64> = r.take(0)?;
                Ok(read_outcome(values.into_iter().map(|v| v as u64).collect()))
            }
        }
    }
}
