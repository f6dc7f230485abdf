//! Leaders of a TiKV cluster, through PD's HTTP API: which compose service
//! is the PD leader, and which TiKV store leads the Raft region holding a key
//! (the SurrealDB register table). This is the [`RoleResolver`](crate::roles::RoleResolver) of the
//! SurrealDB-on-TiKV experiments.
//!
//! Owns: PD's JSON answers (parsed by pure functions, tested on recorded
//! bodies under `tests/data/pd/`), TiKV's key encoding for region lookups
//! ([`encode_bytes`]) and where SurrealDB 3.3.5 keeps a table's records in
//! TiKV ([`surreal_table_key`]). Must not depend on the runner, the nemesis'
//! Docker side or any database client: it reaches PD only through the
//! published ports it is given, and answers compose service names.
//!
//! How a role resolves:
//!
//! - `leader` of the PD component (named `pd`, or whose services are all PD
//!   members): `GET /pd/api/v1/leader` gives the leader's member `name`; the
//!   compose file names each PD member after its service (`--name=pd0`).
//! - `leader` of any other component (`tikv`): the region holding the key,
//!   `GET /pd/api/v1/region/key/{hex}?format=hex`, where `hex` is the key
//!   memcomparable-encoded ([`encode_bytes`]): the TiKV Rust client's
//!   transactional API v1 encodes keys before it asks PD, so region
//!   boundaries are encoded keys. If PD knows no region there (a hole while
//!   regions split or merge), the first region after the key
//!   (`GET /pd/api/v1/regions/key?key={hex}&format=hex&limit=1`). Its
//!   `leader.store_id`, through `GET /pd/api/v1/stores`, gives the store's
//!   `address` (`tikv1:20160`), whose host is the compose service: TiKV's
//!   `--advertise-addr` must be `SERVICE:PORT`.
//!
//! Every HTTP call runs under the timeout; the PD members are tried in turn
//! until one answers (followers forward API calls to the PD leader).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;

use crate::roles::{ResolveFuture, RoleResolver};

/// Why a role could not be resolved through PD. The messages are for the
/// person running the experiment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdError {
    #[error("no PD member is configured")]
    NoMembers,
    #[error(
        "no PD member answered {path} ({tried}); is PD up and healthy? `chaos status EXPERIMENT` shows it"
    )]
    Unreachable { path: String, tried: String },
    #[error("PD answered {what} with something chaos does not understand: {message}")]
    Protocol { what: &'static str, message: String },
    #[error("PD has no leader right now (an election is under way, or PD lost its quorum)")]
    NoPdLeader,
    #[error(
        "the PD leader is member `{member}`, which is not a PD service chaos knows ({known}); the compose file must name each PD member after its service (`--name=SERVICE`)"
    )]
    UnknownMember { member: String, known: String },
    #[error(
        "PD knows no region holding key {key} nor any after it: TiKV has not bootstrapped yet (every store must be `Up` in GET /pd/api/v1/stores)"
    )]
    NoRegion { key: String },
    #[error(
        "region {region}, which holds the key, has no leader right now (an election is under way); try again in a few seconds"
    )]
    NoRegionLeader { region: u64 },
    #[error(
        "the leader of region {region} is on store {store}, which GET /pd/api/v1/stores does not list"
    )]
    UnknownStore { region: u64, store: u64 },
    #[error(
        "the leader of region {region} is store {store} at `{address}`, which is not {expected}; TiKV's --advertise-addr must be the compose service name (`tikv1:20160`)"
    )]
    NotAService {
        region: u64,
        store: u64,
        address: String,
        expected: String,
    },
    #[error("PD has no role `{0}`; the roles it resolves are: leader")]
    UnknownRole(String),
}

/// Resolves the `leader` role of the PD and TiKV components of one cluster.
#[derive(Debug, Clone)]
pub struct PdRoles {
    /// (compose service, `http://127.0.0.1:PORT`) of each PD member.
    pd: Vec<(String, String)>,
    /// The raw (unencoded) key whose region's leader is "the tikv leader".
    key: Vec<u8>,
    http: reqwest::Client,
    /// Component name to its services, when known ([`PdRoles::with_components`]).
    components: BTreeMap<String, Vec<String>>,
}

impl PdRoles {
    /// `pd`: (compose service, base URL `http://127.0.0.1:PORT`) of each PD
    /// member, reached through its published port; `key`: the raw TiKV key
    /// (e.g. [`surreal_table_key`]) whose region's leader is the TiKV leader;
    /// `timeout`: the limit of every HTTP call.
    pub fn new(pd: Vec<(String, String)>, key: Vec<u8>, timeout: Duration) -> PdRoles {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .expect("an HTTP client with timeouts builds");
        PdRoles {
            pd,
            key,
            http,
            components: BTreeMap::new(),
        }
    }

    /// The experiment's components (`cluster.components`): a component whose
    /// services are all PD members is treated as PD whatever its name, and a
    /// store leader must be a service of the component asked about.
    pub fn with_components(mut self, components: BTreeMap<String, Vec<String>>) -> PdRoles {
        self.components = components;
        self
    }

    /// Is this component the PD cluster?
    fn is_pd(&self, component: &str) -> bool {
        if let Some(services) = self.components.get(component) {
            let pd = services
                .iter()
                .all(|s| self.pd.iter().any(|(service, _)| service == s));
            return pd || component == "pd";
        }
        component == "pd"
    }

    /// The compose service of the PD leader.
    pub async fn pd_leader(&self) -> Result<String, PdError> {
        let name = match self.get("/pd/api/v1/leader").await? {
            Reply::Json(v) => parse_leader(&v)?,
            Reply::NotFound(body) => {
                return Err(PdError::Protocol {
                    what: "/pd/api/v1/leader",
                    message: format!("HTTP 404: {body}"),
                });
            }
        };
        member_service(&name, &self.pd)
    }

    /// The compose service of the TiKV store leading the region that holds
    /// the key. `services`: the component's services, when known.
    pub async fn region_leader(&self, services: Option<&[String]>) -> Result<String, PdError> {
        let encoded = hex_upper(&encode_bytes(&self.key));
        let path = format!("/pd/api/v1/region/key/{encoded}?format=hex");
        let found = match self.get(&path).await? {
            Reply::Json(v) => parse_region_leader_store(&v)?,
            Reply::NotFound(_) => RegionAnswer::NoRegion,
        };
        let (region, store) = match found {
            RegionAnswer::Leader { region, store } => (region, store),
            RegionAnswer::NoRegion => {
                let scan = format!("/pd/api/v1/regions/key?key={encoded}&format=hex&limit=1");
                let answer = match self.get(&scan).await? {
                    Reply::Json(v) => parse_first_region_leader_store(&v)?,
                    Reply::NotFound(_) => RegionAnswer::NoRegion,
                };
                match answer {
                    RegionAnswer::Leader { region, store } => (region, store),
                    RegionAnswer::NoRegion => return Err(PdError::NoRegion { key: encoded }),
                }
            }
        };
        let stores = match self.get("/pd/api/v1/stores").await? {
            Reply::Json(v) => parse_store_addresses(&v)?,
            Reply::NotFound(body) => {
                return Err(PdError::Protocol {
                    what: "/pd/api/v1/stores",
                    message: format!("HTTP 404: {body}"),
                });
            }
        };
        let address = stores
            .get(&store)
            .ok_or(PdError::UnknownStore { region, store })?;
        store_service(region, store, address, services)
    }

    /// GET a path from the first PD member that answers. A 404 is an answer
    /// (PD knows nothing there); a refused connection, a timeout, another
    /// error status or a body that is not JSON moves on to the next member.
    async fn get(&self, path: &str) -> Result<Reply, PdError> {
        if self.pd.is_empty() {
            return Err(PdError::NoMembers);
        }
        let mut tried = Vec::new();
        for (service, base) in &self.pd {
            let url = format!("{}{path}", base.trim_end_matches('/'));
            let response = match self.http.get(&url).send().await {
                Ok(r) => r,
                Err(e) => {
                    tried.push(format!("{service} at {base}: {}", transport_error(&e)));
                    continue;
                }
            };
            let status = response.status();
            let body = match response.text().await {
                Ok(b) => b,
                Err(e) => {
                    tried.push(format!("{service} at {base}: {}", transport_error(&e)));
                    continue;
                }
            };
            if status == reqwest::StatusCode::NOT_FOUND {
                return Ok(Reply::NotFound(short(&body)));
            }
            if !status.is_success() {
                tried.push(format!(
                    "{service} at {base}: HTTP {}: {}",
                    status.as_u16(),
                    short(&body)
                ));
                continue;
            }
            match serde_json::from_str(&body) {
                Ok(v) => return Ok(Reply::Json(v)),
                Err(e) => tried.push(format!(
                    "{service} at {base}: not JSON ({e}): {}",
                    short(&body)
                )),
            }
        }
        Err(PdError::Unreachable {
            path: path.to_string(),
            tried: tried.join("; "),
        })
    }
}

impl RoleResolver for PdRoles {
    fn resolve<'a>(&'a self, role: &'a str, component: &'a str) -> ResolveFuture<'a> {
        Box::pin(async move {
            if role != "leader" {
                return Err(PdError::UnknownRole(role.to_string()).into());
            }
            let answer = if self.is_pd(component) {
                self.pd_leader().await
            } else {
                let services = self.components.get(component).map(Vec::as_slice);
                self.region_leader(services).await
            };
            answer.map_err(Into::into)
        })
    }
}

/// A PD answer: a JSON body, or a 404 (with its body, shortened).
#[derive(Debug)]
enum Reply {
    Json(Value),
    NotFound(String),
}

/// What PD says about the region of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RegionAnswer {
    /// No region there (`null`, `{}`, or a region with id 0).
    NoRegion,
    Leader {
        region: u64,
        store: u64,
    },
}

/// The member name in a `GET /pd/api/v1/leader` answer (a `pdpb.Member`);
/// `null` means PD has no leader.
fn parse_leader(v: &Value) -> Result<String, PdError> {
    if v.is_null() {
        return Err(PdError::NoPdLeader);
    }
    match v.get("name").and_then(Value::as_str) {
        Some(name) if !name.is_empty() => Ok(name.to_string()),
        _ => Err(PdError::Protocol {
            what: "/pd/api/v1/leader",
            message: format!("no member `name` in {}", short(&v.to_string())),
        }),
    }
}

/// The region and its leader's store in a `GET /pd/api/v1/region/key/..`
/// answer (a `RegionInfo`). A region whose leader has no `store_id` (PD
/// writes `{"role_name": "Voter"}` for a missing leader) is in an election.
fn parse_region_leader_store(v: &Value) -> Result<RegionAnswer, PdError> {
    let what = "/pd/api/v1/region/key";
    if v.is_null() {
        return Ok(RegionAnswer::NoRegion);
    }
    let Some(fields) = v.as_object() else {
        return Err(PdError::Protocol {
            what,
            message: format!("expected a region object, got {}", short(&v.to_string())),
        });
    };
    let region = match fields.get("id") {
        None => return Ok(RegionAnswer::NoRegion),
        Some(id) => id.as_u64().ok_or_else(|| PdError::Protocol {
            what,
            message: format!("region `id` is not a number: {id}"),
        })?,
    };
    if region == 0 {
        return Ok(RegionAnswer::NoRegion);
    }
    match v
        .get("leader")
        .and_then(|l| l.get("store_id"))
        .and_then(Value::as_u64)
    {
        Some(store) if store != 0 => Ok(RegionAnswer::Leader { region, store }),
        _ => Err(PdError::NoRegionLeader { region }),
    }
}

/// The first region of a `GET /pd/api/v1/regions/key?key=..` scan (a
/// `RegionsInfo`): the region holding the smallest key at or after the one
/// asked for.
fn parse_first_region_leader_store(v: &Value) -> Result<RegionAnswer, PdError> {
    match v.get("regions") {
        Some(Value::Array(regions)) => match regions.first() {
            Some(first) => parse_region_leader_store(first),
            None => Ok(RegionAnswer::NoRegion),
        },
        Some(Value::Null) => Ok(RegionAnswer::NoRegion),
        _ => Err(PdError::Protocol {
            what: "/pd/api/v1/regions/key",
            message: format!("no `regions` list in {}", short(&v.to_string())),
        }),
    }
}

/// Store id to address (`tikv1:20160`) from a `GET /pd/api/v1/stores`
/// answer (a `StoresInfo`), whatever each store's state: a killed store is
/// still listed (`Disconnected`, then `Down`).
fn parse_store_addresses(v: &Value) -> Result<BTreeMap<u64, String>, PdError> {
    let what = "/pd/api/v1/stores";
    let stores = match v.get("stores") {
        Some(Value::Array(stores)) => stores.as_slice(),
        // PD writes a nil list as `null`.
        Some(Value::Null) => &[],
        _ => {
            return Err(PdError::Protocol {
                what,
                message: format!("no `stores` list in {}", short(&v.to_string())),
            });
        }
    };
    let mut out = BTreeMap::new();
    for entry in stores {
        let store = entry.get("store").unwrap_or(entry);
        let id = store.get("id").and_then(Value::as_u64);
        let address = store.get("address").and_then(Value::as_str);
        match (id, address) {
            (Some(id), Some(address)) => {
                out.insert(id, address.to_string());
            }
            _ => {
                return Err(PdError::Protocol {
                    what,
                    message: format!(
                        "a store without `id` or `address`: {}",
                        short(&entry.to_string())
                    ),
                });
            }
        }
    }
    Ok(out)
}

/// The compose service of a PD member name.
fn member_service(name: &str, pd: &[(String, String)]) -> Result<String, PdError> {
    pd.iter()
        .find(|(service, _)| service == name)
        .map(|(service, _)| service.clone())
        .ok_or_else(|| PdError::UnknownMember {
            member: name.to_string(),
            known: pd
                .iter()
                .map(|(s, _)| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The compose service of a store address (`tikv1:20160` -> `tikv1`):
/// one of `services` when they are known, else a name that could be a
/// compose service (not an IP address).
fn store_service(
    region: u64,
    store: u64,
    address: &str,
    services: Option<&[String]>,
) -> Result<String, PdError> {
    let host = match address.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => address,
    };
    let refuse = |expected: String| PdError::NotAService {
        region,
        store,
        address: address.to_string(),
        expected,
    };
    match services {
        Some(services) => {
            if services.iter().any(|s| s == host) {
                Ok(host.to_string())
            } else {
                Err(refuse(format!(
                    "a service of the component ({})",
                    services.join(", ")
                )))
            }
        }
        None => {
            let name_like = !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && host.parse::<std::net::IpAddr>().is_err();
            if name_like {
                Ok(host.to_string())
            } else {
                Err(refuse("a compose service name".to_string()))
            }
        }
    }
}

/// TiKV's memcomparable byte encoding (`codec::bytes::encode_bytes`,
/// ascending), which the TiKV Rust client applies to transactional keys
/// before it asks PD for their region: groups of 8 bytes, the last one
/// padded with zeros, each followed by `0xFF` minus the padding length.
pub fn encode_bytes(key: &[u8]) -> Vec<u8> {
    const GROUP: usize = 8;
    let mut out = Vec::with_capacity((key.len() / GROUP + 1) * (GROUP + 1));
    let mut chunks = key.chunks_exact(GROUP);
    for chunk in chunks.by_ref() {
        out.extend_from_slice(chunk);
        out.push(0xFF);
    }
    let rest = chunks.remainder();
    let pad = GROUP - rest.len();
    out.extend_from_slice(rest);
    out.extend(std::iter::repeat_n(0u8, pad));
    out.push(0xFF - pad as u8);
    out
}

/// Uppercase hex, as PD writes region keys.
pub fn hex_upper(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// The namespace and database ids [`surreal_table_key`] assumes; see there.
pub const SURREAL_DEFAULT_IDS: (u32, u32) = (0, 0);

/// The TiKV key prefix under which SurrealDB 3.3.5 stores the records of a
/// table: `/*{ns}*{db}*{table}\0*` (surrealdb-datastore 3.3.5,
/// `src/key/schema.rs`, the `RecordKey` route `/*{ns}*{db}*{tb}*{id}`), where
/// `ns` and `db` are 4-byte big-endian ids and the table name is a storekey
/// string (bytes 0 and 1 escaped with a 1, then a 0 terminator).
///
/// Assumption: in 3.x a namespace and a database are keyed by numeric ids
/// that SurrealDB allocates when they are defined, which a client cannot
/// see. On a fresh store the first node creates the default namespace
/// `main` and database `main` first, from id 0 of each sequence: so `main` /
/// `main` is exactly (0, 0), and the workload should use them. For other
/// names this assumes namespace id 1 and database id 0 (the first ones
/// defined after the defaults, by the node that created them); a namespace
/// defined through another node takes an id from that node's own batch
/// (100 and up). A wrong guess matters only once the data has split into
/// several regions: a small register workload stays in TiKV's single
/// region, whichever key inside it is asked for.
pub fn surreal_table_key(namespace: &str, database: &str, table: &str) -> Vec<u8> {
    let (ns, db) = match (namespace, database) {
        ("main", "main") => SURREAL_DEFAULT_IDS,
        // A second database in the default namespace.
        ("main", _) => (SURREAL_DEFAULT_IDS.0, 1),
        // The first namespace after the default, and its first database.
        _ => (1, 0),
    };
    surreal_record_prefix(ns, db, table)
}

/// The record prefix of a table with known namespace and database ids.
pub fn surreal_record_prefix(ns: u32, db: u32, table: &str) -> Vec<u8> {
    let mut key = b"/*".to_vec();
    key.extend_from_slice(&ns.to_be_bytes());
    key.push(b'*');
    key.extend_from_slice(&db.to_be_bytes());
    key.push(b'*');
    for &b in table.as_bytes() {
        if b <= 1 {
            key.push(1);
        }
        key.push(b);
    }
    key.push(0);
    key.push(b'*');
    key
}

/// A transport error in words: refused, timed out, or the chain.
fn transport_error(e: &reqwest::Error) -> String {
    if e.is_connect() {
        return "connection refused (nothing listens on that port: PD is down or not published)"
            .to_string();
    }
    if e.is_timeout() {
        return "timed out".to_string();
    }
    crate::error_text::with_causes(e)
}

/// A body shortened for an error message.
fn short(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recorded PD body: the file without its leading `//` comment lines
    /// (which say where its shape comes from).
    fn body(text: &str) -> Value {
        let json: String = text
            .lines()
            .skip_while(|l| l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        serde_json::from_str(&json).expect("a recorded body is JSON")
    }

    const LEADER: &str = include_str!("../../tests/data/pd/leader.jsonc");
    const LEADER_NONE: &str = include_str!("../../tests/data/pd/leader-none.jsonc");
    const REGION: &str = include_str!("../../tests/data/pd/region.jsonc");
    const REGION_NO_LEADER: &str = include_str!("../../tests/data/pd/region-no-leader.jsonc");
    const REGIONS_SCAN: &str = include_str!("../../tests/data/pd/regions-scan.jsonc");
    const STORES: &str = include_str!("../../tests/data/pd/stores.jsonc");
    const STORES_IP: &str = include_str!("../../tests/data/pd/stores-ip.jsonc");

    fn pd0() -> Vec<(String, String)> {
        vec![("pd0".to_string(), "http://127.0.0.1:2379".to_string())]
    }

    fn tikv() -> Vec<String> {
        ["tikv0", "tikv1", "tikv2"].map(String::from).to_vec()
    }

    #[test]
    fn the_pd_leader_is_its_member_name_mapped_to_a_service() {
        assert_eq!(parse_leader(&body(LEADER)).unwrap(), "pd0");
        assert_eq!(member_service("pd0", &pd0()).unwrap(), "pd0");
        assert_eq!(parse_leader(&body(LEADER_NONE)), Err(PdError::NoPdLeader));
        let err = member_service("pd-1", &pd0()).unwrap_err();
        assert!(err.to_string().contains("`--name=SERVICE`"), "{err}");
        assert!(matches!(
            parse_leader(&serde_json::json!({"member_id": 1})),
            Err(PdError::Protocol { .. })
        ));
    }

    #[test]
    fn a_region_answer_gives_its_leader_store() {
        assert_eq!(
            parse_region_leader_store(&body(REGION)).unwrap(),
            RegionAnswer::Leader {
                region: 2,
                store: 4
            }
        );
        assert_eq!(
            parse_region_leader_store(&body(REGION_NO_LEADER)),
            Err(PdError::NoRegionLeader { region: 2 })
        );
        for none in ["null", "{}", r#"{"id": 0, "start_key": "", "end_key": ""}"#] {
            let v: Value = serde_json::from_str(none).unwrap();
            assert_eq!(
                parse_region_leader_store(&v).unwrap(),
                RegionAnswer::NoRegion,
                "{none}"
            );
        }
        assert!(matches!(
            parse_region_leader_store(&serde_json::json!("region not found")),
            Err(PdError::Protocol { .. })
        ));
        assert!(matches!(
            parse_region_leader_store(&serde_json::json!({"id": "two"})),
            Err(PdError::Protocol { .. })
        ));
    }

    #[test]
    fn a_scan_gives_the_first_region_after_the_key() {
        assert_eq!(
            parse_first_region_leader_store(&body(REGIONS_SCAN)).unwrap(),
            RegionAnswer::Leader {
                region: 6,
                store: 5
            }
        );
        let empty = serde_json::json!({"count": 0, "regions": []});
        assert_eq!(
            parse_first_region_leader_store(&empty).unwrap(),
            RegionAnswer::NoRegion
        );
        assert!(parse_first_region_leader_store(&serde_json::json!({})).is_err());
    }

    #[test]
    fn store_addresses_map_to_services() {
        let stores = parse_store_addresses(&body(STORES)).unwrap();
        assert_eq!(stores.len(), 3);
        assert_eq!(stores[&4], "tikv1:20160");
        // A killed store is still listed.
        assert_eq!(stores[&5], "tikv2:20160");
        assert_eq!(
            store_service(2, 4, &stores[&4], Some(&tikv())).unwrap(),
            "tikv1"
        );
        assert_eq!(store_service(2, 4, &stores[&4], None).unwrap(), "tikv1");
        // An address that is no compose service.
        let ip = parse_store_addresses(&body(STORES_IP)).unwrap();
        let err = store_service(2, 1, &ip[&1], None).unwrap_err();
        assert!(matches!(err, PdError::NotAService { .. }), "{err}");
        assert!(err.to_string().contains("--advertise-addr"), "{err}");
        let err = store_service(2, 4, "tikv9:20160", Some(&tikv())).unwrap_err();
        assert!(
            err.to_string()
                .contains("not a service of the component (tikv0, tikv1, tikv2)"),
            "{err}"
        );
        // PD writes no stores as `null`; anything else is refused.
        assert!(
            parse_store_addresses(&serde_json::json!({"count": 0, "stores": null}))
                .unwrap()
                .is_empty()
        );
        assert!(parse_store_addresses(&serde_json::json!({"count": 1})).is_err());
        assert!(
            parse_store_addresses(&serde_json::json!({"stores": [{"store": {"id": 1}}]})).is_err()
        );
    }

    #[test]
    fn keys_are_memcomparable_encoded() {
        // The TiKV client's own vectors (codec.rs test_enc_dec_bytes).
        assert_eq!(encode_bytes(&[]), [0, 0, 0, 0, 0, 0, 0, 0, 247]);
        assert_eq!(encode_bytes(&[1, 2, 3]), [1, 2, 3, 0, 0, 0, 0, 0, 250]);
        assert_eq!(
            encode_bytes(&[1, 2, 3, 4, 5, 6, 7, 8]),
            [1, 2, 3, 4, 5, 6, 7, 8, 255, 0, 0, 0, 0, 0, 0, 0, 0, 247]
        );
        assert_eq!(
            encode_bytes(&[1, 2, 3, 4, 5, 6, 7, 8, 9]),
            [1, 2, 3, 4, 5, 6, 7, 8, 255, 9, 0, 0, 0, 0, 0, 0, 0, 248]
        );
        // Order is kept: a prefix sorts before its extensions.
        let a = encode_bytes(b"/*\0\0\0\0*\0\0\0\0*reg\0*");
        let b = encode_bytes(b"/*\0\0\0\0*\0\0\0\0*reg\0*\x03k1\0");
        assert!(a < b);
        assert_eq!(hex_upper(&[0x2F, 0x00, 0xFF]), "2F00FF");
    }

    #[test]
    fn surreal_record_keys_follow_the_3_3_5_layout() {
        // surrealdb-datastore 3.3.5's own vector for RecordKey(ns 1, db 2,
        // `testtb`, `testid`) is `/*\x00\x00\x00\x01*\x00\x00\x00\x02*testtb\0*\x03testid\0`.
        assert_eq!(
            surreal_record_prefix(1, 2, "testtb"),
            b"/*\x00\x00\x00\x01*\x00\x00\x00\x02*testtb\0*"
        );
        assert_eq!(
            surreal_table_key("main", "main", "reg"),
            b"/*\0\0\0\0*\0\0\0\0*reg\0*"
        );
        assert_eq!(
            surreal_table_key("chaos", "chaos", "reg"),
            b"/*\0\0\0\x01*\0\0\0\0*reg\0*"
        );
        assert_eq!(
            surreal_table_key("main", "other", "reg"),
            b"/*\0\0\0\0*\0\0\0\x01*reg\0*"
        );
        // storekey escapes bytes 0 and 1 inside a string.
        assert_eq!(
            surreal_record_prefix(0, 0, "a\u{1}"),
            b"/*\0\0\0\0*\0\0\0\0*a\x01\x01\0*"
        );
    }

    #[test]
    fn components_decide_pd_or_tikv() {
        let roles = PdRoles::new(pd0(), vec![], Duration::from_secs(1));
        assert!(roles.is_pd("pd"));
        assert!(!roles.is_pd("tikv"));
        assert!(!roles.is_pd("placement"));
        let roles = roles.with_components(
            [
                ("placement".to_string(), vec!["pd0".to_string()]),
                ("tikv".to_string(), tikv()),
            ]
            .into(),
        );
        assert!(roles.is_pd("placement"));
        assert!(!roles.is_pd("tikv"));
    }

    /// A fake PD on a local port: answers each request from `routes` (path
    /// and query -> status and body), 404 otherwise, and records the
    /// requests it saw. Blocking, on its own thread.
    fn fake_pd(
        routes: Vec<(String, u16, String)>,
    ) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request);
                let target = text.split_whitespace().nth(1).unwrap_or("").to_string();
                log.lock().unwrap().push(target.clone());
                let (status, body) = routes
                    .iter()
                    .find(|(path, _, _)| *path == target)
                    .map(|(_, s, b)| (*s, b.clone()))
                    .unwrap_or((404, "\"not found\"".to_string()));
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        (base, seen)
    }

    /// A base URL where nothing listens.
    fn refused() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        base
    }

    fn json_text(text: &str) -> String {
        body(text).to_string()
    }

    const KEY: &[u8] = b"/*\0\0\0\0*\0\0\0\0*reg\0*";

    fn region_path() -> String {
        format!(
            "/pd/api/v1/region/key/{}?format=hex",
            hex_upper(&encode_bytes(KEY))
        )
    }

    #[tokio::test]
    async fn a_member_that_is_down_is_skipped() {
        let (base, seen) = fake_pd(vec![
            ("/pd/api/v1/leader".into(), 200, json_text(LEADER)),
            (region_path(), 200, json_text(REGION)),
            ("/pd/api/v1/stores".into(), 200, json_text(STORES)),
        ]);
        let pd = vec![("pd9".to_string(), refused()), ("pd0".to_string(), base)];
        let roles = PdRoles::new(pd, KEY.to_vec(), Duration::from_secs(2))
            .with_components([("tikv".to_string(), tikv())].into());
        assert_eq!(roles.resolve("leader", "pd").await.unwrap(), "pd0");
        assert_eq!(roles.resolve("leader", "tikv").await.unwrap(), "tikv1");
        assert_eq!(
            seen.lock().unwrap().as_slice(),
            [
                "/pd/api/v1/leader",
                region_path().as_str(),
                "/pd/api/v1/stores"
            ]
        );
        let err = roles.resolve("follower", "tikv").await.unwrap_err();
        assert!(err.to_string().contains("no role `follower`"), "{err}");
    }

    #[tokio::test]
    async fn a_missing_region_falls_back_to_the_next_one() {
        let scan = format!(
            "/pd/api/v1/regions/key?key={}&format=hex&limit=1",
            hex_upper(&encode_bytes(KEY))
        );
        let (base, seen) = fake_pd(vec![
            (region_path(), 404, "\"region not found\"".into()),
            (scan.clone(), 200, json_text(REGIONS_SCAN)),
            ("/pd/api/v1/stores".into(), 200, json_text(STORES)),
        ]);
        let roles = PdRoles::new(
            vec![("pd0".into(), base)],
            KEY.to_vec(),
            Duration::from_secs(2),
        );
        assert_eq!(roles.resolve("leader", "tikv").await.unwrap(), "tikv2");
        assert_eq!(seen.lock().unwrap()[1], scan);
    }

    #[tokio::test]
    async fn failures_are_explained() {
        // Every member down.
        let roles = PdRoles::new(
            vec![("pd0".into(), refused()), ("pd1".into(), refused())],
            KEY.to_vec(),
            Duration::from_secs(2),
        );
        let err = roles.pd_leader().await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("no PD member answered /pd/api/v1/leader"),
            "{text}"
        );
        assert!(text.contains("pd0 at http://127.0.0.1:"), "{text}");
        assert!(text.contains("pd1 at"), "{text}");
        assert!(text.contains("connection refused"), "{text}");
        // Malformed JSON, then an error status: both members tried.
        let (bad, _) = fake_pd(vec![(
            "/pd/api/v1/leader".into(),
            200,
            "{\"name\": ".into(),
        )]);
        let (sick, _) = fake_pd(vec![(
            "/pd/api/v1/leader".into(),
            500,
            "\"[PD:server:ErrServerNotStarted]server not started\"".into(),
        )]);
        let roles = PdRoles::new(
            vec![("pd0".into(), bad), ("pd1".into(), sick)],
            KEY.to_vec(),
            Duration::from_secs(2),
        );
        let text = roles.pd_leader().await.unwrap_err().to_string();
        assert!(
            text.contains("pd0 at") && text.contains("not JSON"),
            "{text}"
        );
        assert!(
            text.contains("pd1 at") && text.contains("HTTP 500"),
            "{text}"
        );
        // A leader on a store PD does not list.
        let mut stores = body(STORES);
        stores["stores"]
            .as_array_mut()
            .unwrap()
            .retain(|s| s["store"]["id"] != 4);
        let (base, _) = fake_pd(vec![
            (region_path(), 200, json_text(REGION)),
            ("/pd/api/v1/stores".into(), 200, stores.to_string()),
        ]);
        let roles = PdRoles::new(
            vec![("pd0".into(), base)],
            KEY.to_vec(),
            Duration::from_secs(2),
        );
        assert_eq!(
            roles.region_leader(None).await.unwrap_err(),
            PdError::UnknownStore {
                region: 2,
                store: 4
            }
        );
        // No region at all: TiKV has not bootstrapped.
        let (base, _) = fake_pd(vec![]);
        let roles = PdRoles::new(
            vec![("pd0".into(), base)],
            KEY.to_vec(),
            Duration::from_secs(2),
        );
        let err = roles.region_leader(None).await.unwrap_err();
        assert!(matches!(err, PdError::NoRegion { .. }), "{err}");
        // No member at all.
        let roles = PdRoles::new(vec![], KEY.to_vec(), Duration::from_secs(1));
        assert_eq!(roles.pd_leader().await.unwrap_err(), PdError::NoMembers);
    }
}
