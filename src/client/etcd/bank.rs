//! The bank workload on etcd ([`crate::workload::bank`]): account `i` of a
//! run is the key `<prefix>bank/a<i>`, holding its balance in decimal.
//!
//! - set-up: each account is created with its starting balance by a `Txn`
//!   guarded by `create_revision == 0` (an existing account is left as it
//!   is: the set-up can be retried);
//! - read: one `Txn` of ranges reads every account at one revision
//!   (serializable ranges when the experiment reads serializably); the
//!   known-bad control reads each account with its own range call, at
//!   different revisions;
//! - transfer: one `Txn` reads both accounts at one revision; a transfer
//!   that would make the source negative is refused (`fail`) when the
//!   experiment says so; then one `Txn` writes both balances, guarded by
//!   both mod revisions (either changed: nothing written, `fail`). The
//!   known-bad control writes without the guard, so two transfers that
//!   read the same balances both write and one update is lost.
//!
//! Classification as for list-append: the reading step writes nothing
//! (any error: `fail`); in the writing step only a refused connection is
//! `fail`, a timeout or any other error `info`.

use base64::Engine as _;
use serde_json::json;

use super::{
    B64, EtcdClient, EtcdError, ModCompare, PutRequest, RangeOp, RangeRequest, ReadTxn,
    ReadTxnAnswer, TxnAnswer, TxnOp, WriteTxn,
};
use crate::workload::Outcome;
use crate::workload::bank::{BankOp, ReadAll, Setup, Transfer, read_outcome};

/// A guard on a key's creation: it does not exist yet.
#[derive(serde::Serialize)]
struct CreateCompare<'a> {
    key: &'a str,
    result: &'static str,
    target: &'static str,
    create_revision: &'static str,
}

#[derive(serde::Serialize)]
struct CreateTxn<'a> {
    compare: Vec<CreateCompare<'a>>,
    success: Vec<TxnOp<'a>>,
}

impl EtcdClient {
    fn account_key(&self, account: u64) -> String {
        B64.encode(format!("{}bank/a{account}", self.prefix))
    }

    /// Run one bank op and classify the answer; never takes much longer
    /// than the client's timeout.
    pub async fn bank(&self, op: &BankOp) -> Outcome {
        let read_only = matches!(op, BankOp::Read(_));
        match tokio::time::timeout(self.timeout, self.bank_steps(op)).await {
            Ok(o) => o,
            Err(_) => Outcome::timed_out(read_only, self.timeout),
        }
    }

    async fn bank_steps(&self, op: &BankOp) -> Outcome {
        match op {
            BankOp::Setup(s) => self.bank_setup(s).await,
            BankOp::Read(r) => match self.balances(r).await {
                Ok(b) => read_outcome(&b),
                Err(e) => Outcome::Fail(format!("reading: {e}")),
            },
            BankOp::Transfer(t) => self.transfer(t).await,
        }
    }

    async fn bank_setup(&self, s: &Setup) -> Outcome {
        for (i, balance) in s.balances.iter().enumerate() {
            let key = self.account_key(i as u64);
            let value = B64.encode(balance.to_string());
            let body = CreateTxn {
                compare: vec![CreateCompare {
                    key: &key,
                    result: "EQUAL",
                    target: "CREATE",
                    create_revision: "0",
                }],
                success: vec![TxnOp {
                    request_put: PutRequest {
                        key: &key,
                        value: &value,
                    },
                }],
            };
            if let Err(e) = self.call::<TxnAnswer>("/v3/kv/txn", &body).await {
                return Outcome::Info(format!("creating account a{i}: {e}"));
            }
        }
        Outcome::Ok(serde_json::Value::Null)
    }

    /// Every account's balance (`None`: absent).
    async fn balances(&self, r: &ReadAll) -> Result<Vec<Option<i64>>, EtcdError> {
        if r.each {
            let mut out = Vec::with_capacity(r.accounts as usize);
            for a in 0..r.accounts {
                let key = self.account_key(a);
                let answer: super::RangeAnswer = self
                    .call(
                        "/v3/kv/range",
                        &RangeRequest {
                            key: &key,
                            serializable: self.serializable,
                        },
                    )
                    .await?;
                out.push(match answer.kvs.first() {
                    None => None,
                    Some(kv) => Some(decode_balance(kv.value.as_deref())?),
                });
            }
            return Ok(out);
        }
        let accounts: Vec<u64> = (0..r.accounts).collect();
        Ok(self
            .read_accounts(&accounts)
            .await?
            .into_iter()
            .map(|(b, _)| b)
            .collect())
    }

    /// The balances and mod revisions of `accounts`, at one revision.
    async fn read_accounts(&self, accounts: &[u64]) -> Result<Vec<(Option<i64>, u64)>, EtcdError> {
        let keys: Vec<String> = accounts.iter().map(|&a| self.account_key(a)).collect();
        let read = ReadTxn {
            success: keys
                .iter()
                .map(|key| RangeOp {
                    request_range: RangeRequest {
                        key,
                        serializable: self.serializable,
                    },
                })
                .collect(),
        };
        let answer: ReadTxnAnswer = self.call("/v3/kv/txn", &read).await?;
        if answer.responses.len() != keys.len() {
            return Err(EtcdError::Protocol(format!(
                "{} range answers for {} accounts",
                answer.responses.len(),
                keys.len()
            )));
        }
        answer
            .responses
            .iter()
            .map(|r| {
                let range = r
                    .response_range
                    .as_ref()
                    .ok_or_else(|| EtcdError::Protocol("an answer that is not a range".into()))?;
                match range.kvs.first() {
                    None => Ok((None, 0)),
                    Some(kv) => Ok((
                        Some(decode_balance(kv.value.as_deref())?),
                        kv.mod_revision
                            .as_deref()
                            .unwrap_or("0")
                            .parse()
                            .map_err(|_| {
                                EtcdError::Protocol(format!("mod_revision {:?}", kv.mod_revision))
                            })?,
                    )),
                }
            })
            .collect()
    }

    async fn transfer(&self, t: &Transfer) -> Outcome {
        let read = match self.read_accounts(&[t.from, t.to]).await {
            Ok(r) => r,
            Err(e) => return Outcome::Fail(format!("reading: {e}")),
        };
        let (Some(from), Some(to)) = (read[0].0, read[1].0) else {
            return Outcome::Fail(format!("account a{} or a{} does not exist", t.from, t.to));
        };
        let amount = t.amount as i64;
        if t.refuse_negative && from < amount {
            return Outcome::Fail(format!(
                "refused: a{} holds {from}, less than {amount}",
                t.from
            ));
        }
        let keys = [self.account_key(t.from), self.account_key(t.to)];
        let values = [
            B64.encode((from - amount).to_string()),
            B64.encode((to + amount).to_string()),
        ];
        let revisions = [read[0].1.to_string(), read[1].1.to_string()];
        let write = WriteTxn {
            compare: if t.unguarded {
                Vec::new()
            } else {
                keys.iter()
                    .zip(&revisions)
                    .map(|(key, rev)| ModCompare {
                        key,
                        result: "EQUAL",
                        target: "MOD",
                        mod_revision: rev,
                    })
                    .collect()
            },
            success: keys
                .iter()
                .zip(&values)
                .map(|(key, value)| TxnOp {
                    request_put: PutRequest { key, value },
                })
                .collect(),
        };
        match self.call::<TxnAnswer>("/v3/kv/txn", &write).await {
            Ok(a) if a.succeeded => Outcome::Ok(json!(null)),
            Ok(_) => Outcome::Fail("conflict: an account changed since it was read".into()),
            Err(e @ EtcdError::Connect(_)) => Outcome::Fail(format!("committing: {e}")),
            Err(e) => Outcome::Info(format!("committing: {e}")),
        }
    }
}

/// A balance as stored: base64 of a decimal integer (may be negative).
fn decode_balance(v: Option<&str>) -> Result<i64, EtcdError> {
    let text = v.ok_or_else(|| EtcdError::Protocol("an account without a value".into()))?;
    let bytes = B64
        .decode(text)
        .map_err(|e| EtcdError::Protocol(format!("value is not base64: {e}")))?;
    String::from_utf8_lossy(&bytes)
        .parse()
        .map_err(|_| EtcdError::Protocol(format!("value is not a balance: {bytes:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balances_decode_from_base64_decimal_and_creation_is_guarded() {
        assert_eq!(decode_balance(Some(&B64.encode("-12"))).unwrap(), -12);
        assert!(decode_balance(Some(&B64.encode("x"))).is_err());
        let c = CreateTxn {
            compare: vec![CreateCompare {
                key: "a",
                result: "EQUAL",
                target: "CREATE",
                create_revision: "0",
            }],
            success: vec![],
        };
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"compare": [{"key": "a", "result": "EQUAL", "target": "CREATE", "create_revision": "0"}], "success": []})
        );
    }
}
