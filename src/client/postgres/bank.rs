//! The bank workload on PostgreSQL ([`crate::workload::bank`]): account `i`
//! of a run is the row `<prefix>a<i>` of `chaos_bank (k text primary key,
//! b bigint)`, on the primary, every transaction at the experiment's
//! isolation level.
//!
//! - set-up: one transaction of `INSERT ... ON CONFLICT (k) DO NOTHING` per
//!   account (an existing account keeps its balance: the set-up can be
//!   retried);
//! - read: one transaction of `SELECT k, b ... WHERE k = ANY($1)`; the
//!   known-bad control (`each`) reads each account with its own statement,
//!   each its own transaction;
//! - transfer: one transaction of `UPDATE ... SET b = b - $amount WHERE k =
//!   $from AND b >= $amount` (no row: refused, rolled back, `fail`; without
//!   the guard when negative balances are allowed), then `UPDATE ... SET b
//!   = b + $amount WHERE k = $to`, then `COMMIT`. The known-bad control
//!   (`unguarded`) reads both balances and writes the new values computed
//!   here (`SET b = $value`): at `read committed`, two transfers that read
//!   the same balances both write, and one update is lost.
//!
//! Classification as for list-append ([`super::classify`]): a read is
//! `fail` on any error; a transfer or set-up whose `COMMIT` was not sent is
//! `fail`; after that, `fail` only when the error proves a rollback
//! (40001, 40P01, ...), else `info`.

use std::sync::atomic::{AtomicU8, Ordering};

use serde_json::Value as Json;

use super::{Failure, PgClient, Sql, Stage, Verdict, classify, sql_level};
use crate::workload::Outcome;
use crate::workload::bank::{BankOp, ReadAll, Setup, Transfer, read_outcome};

impl PgClient {
    fn account(&self, a: u64) -> String {
        format!("{}a{a}", self.prefix)
    }

    /// Run one bank op on the primary and classify the answer; never takes
    /// much longer than the timeout.
    pub async fn bank(&self, op: &BankOp) -> Outcome {
        let read_only = matches!(op, BankOp::Read(_));
        let stage = AtomicU8::new(Stage::Connect as u8);
        let failure = match tokio::time::timeout(self.timeout, self.bank_call(op, &stage)).await {
            Ok(Ok(outcome)) => return outcome,
            Ok(Err(failure)) => failure,
            Err(_) => Failure::timed_out(self.timeout),
        };
        let stage = Stage::from_u8(stage.load(Ordering::SeqCst));
        match classify(read_only, stage, &failure) {
            Verdict::Fail => Outcome::Fail(failure.message),
            Verdict::Info => Outcome::Info(failure.message),
        }
    }

    async fn bank_call(&self, op: &BankOp, stage: &AtomicU8) -> Result<Outcome, Failure> {
        let node = &self.primary;
        let mut live = node.take().await.map_err(|e| Failure::of(&e))?;
        stage.store(Stage::Body as u8, Ordering::SeqCst);
        let begin = format!("BEGIN ISOLATION LEVEL {}", sql_level(self.isolation));
        let body = async {
            match op {
                BankOp::Setup(Setup { balances }) => {
                    let create = live.statement(Sql::BankCreate).await?;
                    let client = &live.client;
                    client.batch_execute(&begin).await?;
                    for (i, b) in balances.iter().enumerate() {
                        client
                            .execute(&create, &[&self.account(i as u64), b])
                            .await?;
                    }
                    stage.store(Stage::Commit as u8, Ordering::SeqCst);
                    client.batch_execute("COMMIT").await?;
                    Ok(Outcome::Ok(Json::Null))
                }
                BankOp::Read(ReadAll { accounts, each }) => {
                    let names: Vec<String> = (0..*accounts).map(|a| self.account(a)).collect();
                    let mut balances = Vec::with_capacity(names.len());
                    if *each {
                        let one = live.statement(Sql::BankReadOne).await?;
                        for name in &names {
                            let row = live.client.query_opt(&one, &[name]).await?;
                            balances.push(row.map(|r| r.try_get::<_, i64>(0)).transpose()?);
                        }
                    } else {
                        let all = live.statement(Sql::BankRead).await?;
                        let client = &live.client;
                        client.batch_execute(&begin).await?;
                        let rows = client.query(&all, &[&names]).await?;
                        client.batch_execute("COMMIT").await?;
                        let mut found = std::collections::BTreeMap::new();
                        for r in rows {
                            found.insert(r.try_get::<_, String>(0)?, r.try_get::<_, i64>(1)?);
                        }
                        balances.extend(names.iter().map(|n| found.get(n).copied()));
                    }
                    Ok(read_outcome(&balances))
                }
                BankOp::Transfer(t) => {
                    let sql = transfer_statements(t);
                    let mut statements = Vec::with_capacity(sql.len());
                    for s in sql {
                        statements.push(live.statement(s).await?);
                    }
                    let client = &live.client;
                    let (from, to) = (self.account(t.from), self.account(t.to));
                    let amount = t.amount as i64;
                    client.batch_execute(&begin).await?;
                    let refused = |why: String| async move {
                        client.batch_execute("ROLLBACK").await?;
                        Ok::<_, tokio_postgres::Error>(Outcome::Fail(why))
                    };
                    if t.unguarded {
                        let (read, set) = (&statements[0], &statements[1]);
                        let f = client.query_opt(read, &[&from]).await?;
                        let d = client.query_opt(read, &[&to]).await?;
                        let (Some(f), Some(d)) = (f, d) else {
                            return refused(format!(
                                "account a{} or a{} does not exist",
                                t.from, t.to
                            ))
                            .await;
                        };
                        let (f, d): (i64, i64) = (f.try_get(0)?, d.try_get(0)?);
                        if t.refuse_negative && f < amount {
                            return refused(format!(
                                "refused: a{} holds {f}, less than {amount}",
                                t.from
                            ))
                            .await;
                        }
                        client.execute(set, &[&from, &(f - amount)]).await?;
                        client.execute(set, &[&to, &(d + amount)]).await?;
                    } else {
                        let (debit, credit) = (&statements[0], &statements[1]);
                        if client.execute(debit, &[&from, &amount]).await? == 0 {
                            return refused(if t.refuse_negative {
                                format!(
                                    "refused: a{} holds less than {amount}, or does not exist",
                                    t.from
                                )
                            } else {
                                format!("refused: a{} does not exist", t.from)
                            })
                            .await;
                        }
                        if client.execute(credit, &[&to, &amount]).await? == 0 {
                            return refused(format!("refused: a{} does not exist", t.to)).await;
                        }
                    }
                    stage.store(Stage::Commit as u8, Ordering::SeqCst);
                    client.batch_execute("COMMIT").await?;
                    Ok(Outcome::Ok(Json::Null))
                }
            }
        };
        match body.await {
            Ok(outcome) => {
                node.put(live);
                Ok(outcome)
            }
            Err(e) => {
                let failure = Failure::of(&e);
                // The server answered: end the (failed) transaction and
                // keep the connection.
                if failure.answered() && live.client.batch_execute("ROLLBACK").await.is_ok() {
                    node.put(live);
                }
                Err(failure)
            }
        }
    }
}

/// The statements of a transfer, in the order it uses them: a guarded
/// transfer debits (refusing an overdraft unless negative balances are
/// allowed) and credits; the unguarded control reads each balance and sets
/// both.
fn transfer_statements(t: &Transfer) -> [Sql; 2] {
    if t.unguarded {
        [Sql::BankReadOne, Sql::BankSet]
    } else if t.refuse_negative {
        [Sql::BankDebit, Sql::BankCredit]
    } else {
        [Sql::BankDebitAny, Sql::BankCredit]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transfer(unguarded: bool, refuse_negative: bool) -> Transfer {
        Transfer {
            from: 1,
            to: 2,
            amount: 3,
            unguarded,
            refuse_negative,
        }
    }

    #[test]
    fn a_guarded_transfer_refuses_an_overdraft_in_its_debit() {
        let [debit, credit] = transfer_statements(&transfer(false, true));
        assert_eq!(
            debit.text(),
            "UPDATE chaos_bank SET b = b - $2 WHERE k = $1 AND b >= $2"
        );
        assert_eq!(
            credit.text(),
            "UPDATE chaos_bank SET b = b + $2 WHERE k = $1"
        );
        // Negative balances allowed: no guard on the balance.
        let [debit, _] = transfer_statements(&transfer(false, false));
        assert_eq!(
            debit.text(),
            "UPDATE chaos_bank SET b = b - $2 WHERE k = $1"
        );
    }

    #[test]
    fn the_unguarded_control_reads_then_sets_blindly() {
        let [read, set] = transfer_statements(&transfer(true, true));
        assert_eq!(read.text(), "SELECT b FROM chaos_bank WHERE k = $1");
        assert_eq!(set.text(), "UPDATE chaos_bank SET b = $2 WHERE k = $1");
    }

    #[test]
    fn accounts_are_created_once_and_read_in_one_statement() {
        assert!(
            Sql::BankCreate
                .text()
                .ends_with("ON CONFLICT (k) DO NOTHING")
        );
        assert_eq!(
            Sql::BankRead.text(),
            "SELECT k, b FROM chaos_bank WHERE k = ANY($1)"
        );
    }
}
