//! The bank workload on SurrealDB ([`crate::workload::bank`]): account `i`
//! of a run is the record `bank:⟨<prefix>a<i>⟩`, its balance in field `b`.
//!
//! - set-up: `UPSERT ... SET b = b ?? $start` per account (an existing
//!   account keeps its balance: the set-up can be retried);
//! - read: one SurrealQL transaction of one `SELECT VALUE b` per account;
//!   the known-bad control sends each `SELECT` as its own query;
//! - transfer: one SurrealQL transaction that reads the source, `THROW`s
//!   when the transfer would make it negative (if the experiment refuses
//!   that), and updates both accounts:
//!
//!   ```text
//!   BEGIN TRANSACTION;
//!   LET $f = (SELECT VALUE b FROM ONLY bank:⟨...a1⟩);
//!   IF $f = NONE OR $f < $amount { THROW "refused: ..." };
//!   UPDATE bank:⟨...a1⟩ SET b -= $amount RETURN NONE;
//!   UPDATE bank:⟨...a4⟩ SET b += $amount RETURN NONE;
//!   COMMIT TRANSACTION;
//!   ```
//!
//!   The known-bad control reads both balances in one query and writes
//!   the new ones, computed here, in another, with no transaction around
//!   them: two transfers that read the same balances both write, and one
//!   update is lost.
//!
//! Every statement's result is checked, not only the call's (a call can
//! succeed while its commit failed); classification as for list-append:
//! a read is `fail` on any error; a transfer is `fail` when an error
//! proves nothing was applied (a conflict, the `THROW`), else `info`.

use serde_json::Value;

use super::{SurrealClient, proves_not_applied};
use crate::workload::Outcome;
use crate::workload::bank::{BankOp, ReadAll, Setup, Transfer, read_outcome};

/// The table of the bank's accounts.
pub const BANK_TABLE: &str = "bank";

impl SurrealClient {
    fn account(&self, a: u64) -> String {
        format!("{BANK_TABLE}:⟨{}a{a}⟩", self.prefix)
    }

    /// Run one bank op and classify the answer; never takes much longer
    /// than the client's timeout.
    pub async fn bank(&self, op: &BankOp) -> Outcome {
        let read_only = matches!(op, BankOp::Read(_));
        match tokio::time::timeout(self.timeout, self.bank_call(op)).await {
            Err(_) => Outcome::timed_out(read_only, self.timeout),
            Ok(Ok(o)) => o,
            Ok(Err(e)) => classify(read_only, &[e]),
        }
    }

    async fn bank_call(&self, op: &BankOp) -> Result<Outcome, surrealdb::Error> {
        match op {
            BankOp::Setup(s) => self.bank_setup(s).await,
            BankOp::Read(r) => self.read_accounts(r).await,
            BankOp::Transfer(t) if t.unguarded => self.transfer_unguarded(t).await,
            BankOp::Transfer(t) => self.transfer(t).await,
        }
    }

    async fn bank_setup(&self, s: &Setup) -> Result<Outcome, surrealdb::Error> {
        let mut text = String::new();
        for i in 0..s.balances.len() {
            text.push_str(&format!(
                "UPSERT {} SET b = b ?? $s{i} RETURN NONE;\n",
                self.account(i as u64)
            ));
        }
        let mut query = self.db.query(text);
        for (i, b) in s.balances.iter().enumerate() {
            query = query.bind((format!("s{i}"), *b));
        }
        let mut response = query.await?;
        let errors: Vec<surrealdb::Error> = response.take_errors().into_values().collect();
        Ok(if errors.is_empty() {
            Outcome::Ok(Value::Null)
        } else {
            classify(false, &errors)
        })
    }

    async fn read_accounts(&self, r: &ReadAll) -> Result<Outcome, surrealdb::Error> {
        let select = |a: u64| format!("SELECT VALUE b FROM {};\n", self.account(a));
        let mut balances = Vec::with_capacity(r.accounts as usize);
        if r.each {
            for a in 0..r.accounts {
                let mut response = self.db.query(select(a)).await?;
                let values: Vec<i64> = response.take(0)?;
                balances.push(values.first().copied());
            }
            return Ok(read_outcome(&balances));
        }
        let mut text = String::from("BEGIN TRANSACTION;\n");
        for a in 0..r.accounts {
            text.push_str(&select(a));
        }
        text.push_str("COMMIT TRANSACTION;");
        let mut response = self.db.query(text).await?;
        let errors: Vec<surrealdb::Error> = response.take_errors().into_values().collect();
        if !errors.is_empty() {
            return Ok(classify(true, &errors));
        }
        // Statement 0 is BEGIN; account a is statement a + 1.
        for a in 0..r.accounts {
            let values: Vec<i64> = response.take(a as usize + 1)?;
            balances.push(values.first().copied());
        }
        Ok(read_outcome(&balances))
    }

    async fn transfer(&self, t: &Transfer) -> Result<Outcome, surrealdb::Error> {
        let guard = if t.refuse_negative {
            "IF $f = NONE OR $f < $amount { THROW \"refused: the source holds less than the amount\" };\n"
        } else {
            "IF $f = NONE { THROW \"refused: the source account does not exist\" };\n"
        };
        let text = format!(
            "BEGIN TRANSACTION;\n\
             LET $f = (SELECT VALUE b FROM ONLY {from});\n\
             {guard}\
             UPDATE {from} SET b -= $amount RETURN NONE;\n\
             UPDATE {to} SET b += $amount RETURN NONE;\n\
             COMMIT TRANSACTION;",
            from = self.account(t.from),
            to = self.account(t.to),
        );
        let mut response = self
            .db
            .query(text)
            .bind(("amount", t.amount as i64))
            .await?;
        let errors: Vec<surrealdb::Error> = response.take_errors().into_values().collect();
        Ok(if errors.is_empty() {
            Outcome::Ok(Value::Null)
        } else {
            classify(false, &errors)
        })
    }

    /// The known-bad transfer: read, compute here, write blindly.
    async fn transfer_unguarded(&self, t: &Transfer) -> Result<Outcome, surrealdb::Error> {
        let mut response = self
            .db
            .query(format!(
                "SELECT VALUE b FROM {}; SELECT VALUE b FROM {};",
                self.account(t.from),
                self.account(t.to)
            ))
            .await?;
        let from: Vec<i64> = response.take(0)?;
        let to: Vec<i64> = response.take(1)?;
        let (Some(&from), Some(&to)) = (from.first(), to.first()) else {
            return Ok(Outcome::Fail(format!(
                "account a{} or a{} does not exist",
                t.from, t.to
            )));
        };
        let amount = t.amount as i64;
        if t.refuse_negative && from < amount {
            return Ok(Outcome::Fail(format!(
                "refused: a{} holds {from}, less than {amount}",
                t.from
            )));
        }
        let mut response = self
            .db
            .query(format!(
                "UPDATE {} SET b = $f RETURN NONE; UPDATE {} SET b = $t RETURN NONE;",
                self.account(t.from),
                self.account(t.to)
            ))
            .bind(("f", from - amount))
            .bind(("t", to + amount))
            .await?;
        let errors: Vec<surrealdb::Error> = response.take_errors().into_values().collect();
        Ok(if errors.is_empty() {
            Outcome::Ok(Value::Null)
        } else {
            classify(false, &errors)
        })
    }
}

/// The outcome of a bank op whose statements answered with `errors`.
fn classify(read_only: bool, errors: &[surrealdb::Error]) -> Outcome {
    let text = errors
        .iter()
        .map(|e| format!("{} error: {}", e.kind_str(), e.message()))
        .collect::<Vec<_>>()
        .join("; ");
    if read_only || errors.iter().any(proves_not_applied) {
        Outcome::Fail(text)
    } else {
        Outcome::Info(text)
    }
}
