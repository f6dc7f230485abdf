//! The set workload on etcd ([`crate::workload::set`]): element `e` of a
//! run is the key `<prefix>set/<e>`; an add puts it, a read is one range
//! over the prefix (keys only, serializable when the experiment reads so):
//! one request, one revision. Classification: a refused connection is
//! `fail`; any other error or a timeout is `info` for an add and `fail`
//! for a read.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::{B64, EtcdClient, EtcdError, PutRequest};
use crate::workload::Outcome;
use crate::workload::set::{SetOp, read_outcome};

#[derive(Serialize)]
struct PrefixRange<'a> {
    key: &'a str,
    range_end: &'a str,
    serializable: bool,
    keys_only: bool,
}

#[derive(Deserialize)]
struct KeysAnswer {
    #[serde(default)]
    kvs: Vec<KeyOnly>,
    /// Set when the answer was cut (never, without a limit).
    #[serde(default)]
    more: bool,
}

#[derive(Deserialize)]
struct KeyOnly {
    key: String,
}

impl EtcdClient {
    fn set_prefix(&self) -> String {
        format!("{}set/", self.prefix)
    }

    /// Run one set op and classify the answer.
    pub async fn set(&self, op: &SetOp) -> Outcome {
        let read = matches!(op, SetOp::Read);
        let result = tokio::time::timeout(self.timeout, async {
            match op {
                SetOp::Add(e) => self
                    .set_add(*e)
                    .await
                    .map(|()| Outcome::Ok(serde_json::Value::Null)),
                SetOp::Read => self.set_read().await.map(read_outcome),
            }
        })
        .await;
        match result {
            Err(_) => Outcome::timed_out(read, self.timeout),
            Ok(Ok(o)) => o,
            Ok(Err(e @ EtcdError::Connect(_))) => Outcome::Fail(e.to_string()),
            Ok(Err(e)) if read => Outcome::Fail(e.to_string()),
            Ok(Err(e)) => Outcome::Info(e.to_string()),
        }
    }

    async fn set_add(&self, e: u64) -> Result<(), EtcdError> {
        let key = B64.encode(format!("{}{e}", self.set_prefix()));
        let value = B64.encode("1");
        let _: serde::de::IgnoredAny = self
            .call(
                "/v3/kv/put",
                &PutRequest {
                    key: &key,
                    value: &value,
                },
            )
            .await?;
        Ok(())
    }

    async fn set_read(&self) -> Result<Vec<u64>, EtcdError> {
        let prefix = self.set_prefix();
        let key = B64.encode(&prefix);
        let range_end = B64.encode(range_end(&prefix));
        let answer: KeysAnswer = self
            .call(
                "/v3/kv/range",
                &PrefixRange {
                    key: &key,
                    range_end: &range_end,
                    serializable: self.serializable,
                    keys_only: true,
                },
            )
            .await?;
        if answer.more {
            return Err(EtcdError::Protocol("the range answer was cut short".into()));
        }
        answer
            .kvs
            .iter()
            .map(|kv| {
                let bytes = B64
                    .decode(&kv.key)
                    .map_err(|e| EtcdError::Protocol(format!("key is not base64: {e}")))?;
                let text = String::from_utf8_lossy(&bytes);
                text.strip_prefix(&prefix)
                    .and_then(|e| e.parse().ok())
                    .ok_or_else(|| EtcdError::Protocol(format!("not a set element key: {text}")))
            })
            .collect()
    }
}

/// The end of the range of every key starting with `prefix`: the prefix
/// with its last byte one higher.
fn range_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_range_ends_past_every_key_of_the_prefix() {
        assert_eq!(range_end("a/set/"), b"a/set0".to_vec());
        assert!(b"a/set/123".as_slice() < range_end("a/set/").as_slice());
        assert!(b"a/set0".as_slice() >= range_end("a/set/").as_slice());
    }
}
