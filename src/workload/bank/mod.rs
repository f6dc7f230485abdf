//! The bank workload's room (Jepsen's bank): a fixed total of money over a
//! few accounts; a transfer moves an amount from one account to another in
//! one transaction (refused when it would make a balance negative, unless
//! the file allows negative balances); a read reads every account in one
//! transaction. Every ok read must sum to the total (and, when transfers
//! refuse to go negative, show no negative balance): a wrong total is read
//! skew, a lost update or a commit that was not atomic, and it shows at
//! once, whatever the keys' histories look like.
//!
//! Owns: its fields (`accounts`, `total`, `max_transfer`,
//! `negative_balances`, and the two known-bad switches `guard_transfers`
//! and `read_in_one_txn`), the op stream, the ops (`transfer`, `read`) and
//! their values, the set-up (every account created with its share of the
//! total), the final read, the checker ([`check`]) and the page ([`view`]).
//!
//! Pure.

mod check;
mod view;

use std::collections::BTreeSet;

use rand::Rng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::{
    Capabilities, CheckInput, Checked, FieldError, Generator, Invocation, Outcome, PageInput,
    StreamSummary, Workload,
};
use crate::experiment::Workload as WorkloadConfig;
use crate::experiment::limits;
use crate::history::HistoryError;
use crate::seed::Seed;

/// The bank workload.
pub struct Bank;

static CAPS: Capabilities = Capabilities {
    name: "bank",
    summary: "transfers between accounts with a fixed total; every read of all accounts must see it",
    ops: &["transfer", "read"],
    mix: &[("transfer", 50), ("read", 50)],
    fields: &[
        "accounts",
        "total",
        "max_transfer",
        "negative_balances",
        "guard_transfers",
        "read_in_one_txn",
    ],
    models: &[],
    checks: "a fixed total in every read of all accounts (snapshot isolation or stronger)",
    anomalies: &["wrong-total", "negative-balance"],
    unit: "op",
    bench: false,
    keys: false,
};

/// The room's fields of `[workload]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// Accounts 0..accounts (default 5).
    pub accounts: u64,
    /// The money over all accounts (default 100), spread evenly at the
    /// start (the remainder in account 0).
    pub total: u64,
    /// A transfer moves 1..=max_transfer (default 5).
    pub max_transfer: u64,
    /// Transfers refuse to make a balance negative (`"refuse"`, the
    /// default, so a negative balance in a read is an anomaly), or may
    /// (`"allow"`).
    pub refuse_negative: bool,
    /// A transfer's write is guarded by what it read (the default); `false`
    /// writes blindly: the known-bad control for lost updates.
    pub guard_transfers: bool,
    /// A read reads every account in one transaction (the default);
    /// `false` reads each account in its own request: the known-bad
    /// control for read skew.
    pub read_in_one_txn: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            accounts: 5,
            total: 100,
            max_transfer: 5,
            refuse_negative: true,
            guard_transfers: true,
            read_in_one_txn: true,
        }
    }
}

impl Params {
    /// Each account's balance at the start: the total spread evenly, the
    /// remainder in account 0.
    pub fn initial(&self) -> Vec<i64> {
        let n = self.accounts.max(1);
        let each = self.total / n;
        (0..n)
            .map(|i| (each + if i == 0 { self.total % n } else { 0 }) as i64)
            .collect()
    }
}

/// A transfer as a client runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub from: u64,
    pub to: u64,
    pub amount: u64,
    /// The known-bad control: write without checking what was read.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unguarded: bool,
    /// Refuse a transfer that would make `from` negative.
    #[serde(default = "yes", skip_serializing_if = "Clone::clone")]
    pub refuse_negative: bool,
}

fn yes() -> bool {
    true
}

/// A read of every account as a client runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ReadAll {
    pub accounts: u64,
    /// The known-bad control: each account in its own request.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub each: bool,
}

/// The accounts to create before the workload starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setup {
    /// Account i starts with `balances[i]` (set only if it does not
    /// exist yet).
    pub balances: Vec<i64>,
}

/// What a bank op asks a client to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BankOp {
    Transfer(Transfer),
    Read(ReadAll),
    Setup(Setup),
}

impl BankOp {
    /// The op an invocation asks for; an error says what is wrong with it.
    pub fn of(op: &Invocation) -> Result<BankOp, String> {
        let parse = |what: &str| format!("a bank `{}` carries {what}, not {}", op.f, op.value);
        match op.f {
            "transfer" => serde_json::from_value(op.value.clone())
                .map(BankOp::Transfer)
                .map_err(|_| parse("{from, to, amount}")),
            "read" => serde_json::from_value(op.value.clone())
                .map(BankOp::Read)
                .map_err(|_| parse("{accounts}")),
            "setup" => serde_json::from_value(op.value.clone())
                .map(BankOp::Setup)
                .map_err(|_| parse("{balances}")),
            other => Err(format!("`{other}` is not a bank op")),
        }
    }
}

/// The outcome of an ok read: each account's balance (`null`: the account
/// was not there).
pub fn read_outcome(balances: &[Option<i64>]) -> Outcome {
    Outcome::Ok(json!(balances))
}

struct BankGenerator {
    rng: ChaCha20Rng,
    p: Params,
    transfer: u64,
    read: u64,
}

impl Generator for BankGenerator {
    fn next_op(&mut self) -> Invocation {
        let pick = self.rng.random_range(0..self.transfer + self.read);
        if pick < self.transfer {
            let from = self.rng.random_range(0..self.p.accounts);
            let mut to = self.rng.random_range(0..self.p.accounts - 1);
            if to >= from {
                to += 1;
            }
            let amount = self.rng.random_range(1..=self.p.max_transfer);
            let t = Transfer {
                from,
                to,
                amount,
                unguarded: !self.p.guard_transfers,
                refuse_negative: self.p.refuse_negative,
            };
            Invocation::new("transfer", None, json!(t))
        } else {
            read_all(&self.p)
        }
    }

    fn touched(&self) -> BTreeSet<u64> {
        BTreeSet::new()
    }
}

fn read_all(p: &Params) -> Invocation {
    Invocation::new(
        "read",
        None,
        json!(ReadAll {
            accounts: p.accounts,
            each: !p.read_in_one_txn,
        }),
    )
}

fn field_u64(
    fields: &toml::Table,
    name: &str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, FieldError> {
    match fields.get(name) {
        None => Ok(default),
        Some(toml::Value::Integer(n)) if *n >= min as i64 && (*n as u64) <= max => Ok(*n as u64),
        Some(toml::Value::Integer(n)) => Err(FieldError::new(
            name,
            format!("{n} is out of range; expected {min} to {max}"),
        )),
        Some(v) => Err(FieldError::new(
            name,
            format!("expected a whole number, not {v}"),
        )),
    }
}

fn field_bool(fields: &toml::Table, name: &str, default: bool) -> Result<bool, FieldError> {
    match fields.get(name) {
        None => Ok(default),
        Some(toml::Value::Boolean(b)) => Ok(*b),
        Some(v) => Err(FieldError::new(
            name,
            format!("expected true or false, not {v}"),
        )),
    }
}

impl Workload for Bank {
    fn caps(&self) -> &'static Capabilities {
        &CAPS
    }

    fn params(&self, fields: &toml::Table) -> Result<Json, FieldError> {
        let d = Params::default();
        let accounts = field_u64(fields, "accounts", d.accounts, 2, limits::MAX_ACCOUNTS)?;
        let total = field_u64(fields, "total", d.total, 1, i64::MAX as u64 / 4)?;
        let max_transfer = field_u64(fields, "max_transfer", d.max_transfer.min(total), 1, total)?;
        let refuse_negative = match fields.get("negative_balances") {
            None => true,
            Some(toml::Value::String(s)) if s == "refuse" => true,
            Some(toml::Value::String(s)) if s == "allow" => false,
            Some(v) => {
                return Err(FieldError::new(
                    "negative_balances",
                    format!("expected \"refuse\" or \"allow\", not {v}"),
                ));
            }
        };
        let p = Params {
            accounts,
            total,
            max_transfer,
            refuse_negative,
            guard_transfers: field_bool(fields, "guard_transfers", true)?,
            read_in_one_txn: field_bool(fields, "read_in_one_txn", true)?,
        };
        Ok(serde_json::to_value(p).expect("params serialize"))
    }

    fn generator(&self, w: &WorkloadConfig, seed: Seed, client: u64) -> Box<dyn Generator> {
        Box::new(BankGenerator {
            rng: seed.stream(&format!("client/{client}")),
            p: w.params(),
            transfer: w.weight("transfer"),
            read: w.weight("read"),
        })
    }

    fn summarize(&self, w: &WorkloadConfig, seed: Seed, client: u64, ops: u64) -> StreamSummary {
        let p: Params = w.params();
        let mut s = StreamSummary {
            last_key: p.accounts - 1,
            ..StreamSummary::default()
        };
        let mut g = self.generator(w, seed, client);
        for i in 0..ops {
            let op = g.next_op();
            *s.ops.entry(op.f.to_string()).or_default() += 1;
            if (i as usize) < crate::plan::SHOWN_OPS {
                s.first.push(match BankOp::of(&op) {
                    Ok(BankOp::Transfer(t)) => {
                        format!("transfer {} a{}->a{}", t.amount, t.from, t.to)
                    }
                    _ => "read all".to_string(),
                });
            }
        }
        s
    }

    fn describe(&self, w: &WorkloadConfig, _model: Option<&str>) -> Option<String> {
        let p: Params = w.params();
        let mut line = format!(
            "bank: {} accounts holding {} in all, transfers of 1..{} ({} negative balances); \
             every read must see the total",
            p.accounts,
            p.total,
            p.max_transfer,
            if p.refuse_negative {
                "refusing"
            } else {
                "allowing"
            }
        );
        if !p.guard_transfers {
            line.push_str("; KNOWN-BAD: transfers write without a guard");
        }
        if !p.read_in_one_txn {
            line.push_str("; KNOWN-BAD: reads read each account on its own");
        }
        Some(line)
    }

    fn setup(&self, w: &WorkloadConfig) -> Vec<Invocation> {
        let p: Params = w.params();
        vec![Invocation::new(
            "setup",
            None,
            json!(Setup {
                balances: p.initial()
            }),
        )]
    }

    fn read_only(&self, op: &Invocation) -> bool {
        op.f == "read"
    }

    fn completed(&self, op: &Invocation, outcome: &Outcome) -> Json {
        match (op.f, outcome) {
            ("read", Outcome::Ok(v)) => v.clone(),
            _ => op.value.clone(),
        }
    }

    fn final_reads(&self, w: &WorkloadConfig, _touched: &BTreeSet<u64>) -> Vec<Invocation> {
        // The final read reads in one transaction even in the read-skew
        // control: it is the state after the run.
        let p = Params {
            read_in_one_txn: true,
            ..w.params()
        };
        vec![read_all(&p)]
    }

    fn check(&self, input: &CheckInput<'_>) -> Result<Checked, HistoryError> {
        check::check(input.history, &input.workload.params(), input.max_cases)
    }

    fn page(&self, input: &PageInput<'_>) -> Result<String, HistoryError> {
        view::page(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_is_spread_evenly_with_the_rest_in_account_zero() {
        let p = Params {
            accounts: 3,
            total: 100,
            ..Params::default()
        };
        assert_eq!(p.initial(), vec![34, 33, 33]);
        assert_eq!(p.initial().iter().sum::<i64>(), 100);
    }

    #[test]
    fn fields_are_checked_with_their_names() {
        let t: toml::Table = toml::from_str("accounts = 1").unwrap();
        assert_eq!(Bank.params(&t).unwrap_err().field, "accounts");
        let t: toml::Table = toml::from_str("total = 10\nmax_transfer = 11").unwrap();
        assert_eq!(Bank.params(&t).unwrap_err().field, "max_transfer");
        let t: toml::Table = toml::from_str("negative_balances = \"maybe\"").unwrap();
        assert!(
            Bank.params(&t)
                .unwrap_err()
                .message
                .contains("\"refuse\" or \"allow\"")
        );
        let t: toml::Table = toml::from_str("guard_transfers = false\ntotal = 7").unwrap();
        let p: Params = serde_json::from_value(Bank.params(&t).unwrap()).unwrap();
        assert!(!p.guard_transfers && p.read_in_one_txn);
        assert_eq!((p.total, p.max_transfer), (7, 5));
    }

    #[test]
    fn ops_go_to_the_generic_shape_and_back() {
        let t = Transfer {
            from: 1,
            to: 2,
            amount: 3,
            unguarded: false,
            refuse_negative: true,
        };
        let op = Invocation::new("transfer", None, json!(t));
        assert_eq!(op.value, json!({"from": 1, "to": 2, "amount": 3}));
        assert_eq!(BankOp::of(&op), Ok(BankOp::Transfer(t)));
        let r = read_all(&Params::default());
        assert_eq!(
            BankOp::of(&r),
            Ok(BankOp::Read(ReadAll {
                accounts: 5,
                each: false
            }))
        );
        assert!(Bank.read_only(&r) && !Bank.read_only(&op));
        assert!(BankOp::of(&Invocation::new("transfer", None, json!(5))).is_err());
    }
}
