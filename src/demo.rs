//! Demonstrations against a SurrealDB cluster, run by `chaos demo`:
//!
//! - [`crud`]: the blog schema (`schemas/blog.surql`), then create, read,
//!   update and delete users and posts, writing through one node and
//!   verifying through the other: the replication check of the user's plan.
//! - [`failover`]: clients write through every node while one node is
//!   killed (through the nemesis, journaled and healed on every path); the
//!   others must keep serving, and every acknowledged write must be readable
//!   afterwards through every node.
//!
//! Shell: talks to SurrealDB (the failover's kill is the CLI's, through a
//! fault session). Each step reports what it did and whether it verified,
//! through a callback as it is done (only the CLI prints); nothing is
//! assumed to have worked. With one node (the local image), reads go
//! through the same node and the report says that replication is not shown.

use std::fmt;
use std::time::Duration;

use serde_json::Value;
use surrealdb::Surreal;
use surrealdb::engine::remote::ws::Client;
use tokio::time::Instant;

use crate::client::surreal::{SurrealConfig, session};

/// One node of the demonstration: its compose service and the address of
/// its published port (`127.0.0.1:PORT`).
#[derive(Debug, Clone)]
pub struct Node {
    pub service: String,
    pub address: String,
}

/// One verified step.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: &'static str,
    /// The node(s) the step went through.
    pub via: String,
    pub ok: bool,
    pub detail: String,
    pub elapsed: Duration,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] {:<10} via {:<24} {} ({:.1} ms)",
            if self.ok { " ok " } else { "FAIL" },
            self.name,
            self.via,
            self.detail,
            self.elapsed.as_secs_f64() * 1000.0
        )
    }
}

/// What a demonstration did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub steps: Vec<Step>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        !self.steps.is_empty() && self.steps.iter().all(|s| s.ok)
    }
}

/// The demonstration's database: namespace `chaos`, database `blog`.
pub fn blog_config(timeout: Duration) -> SurrealConfig {
    SurrealConfig {
        namespace: "chaos".into(),
        database: "blog".into(),
        ..SurrealConfig::new(timeout)
    }
}

type Db = Surreal<Client>;

/// Run one query and return each statement's result as JSON, or the first
/// error as text.
async fn q(db: &Db, text: &str, vars: Vec<(&str, Value)>) -> Result<Vec<Value>, String> {
    let mut query = db.query(text.to_string());
    for (k, v) in vars {
        query = query.bind((k.to_string(), v));
    }
    let mut response = query.await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for i in 0..response.num_statements() {
        let v: surrealdb::types::Value = response
            .take(i)
            .map_err(|e| format!("statement {i}: {e}"))?;
        out.push(v.into_json_value());
    }
    Ok(out)
}

/// The records a statement returned, as a list.
fn rows(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// Where each step goes as it is done (the CLI prints it).
pub type OnStep<'a> = &'a mut (dyn FnMut(&Step) + Send);

struct Runner<'a> {
    steps: Vec<Step>,
    on_step: OnStep<'a>,
}

impl Runner<'_> {
    /// Time `f` and record its verdict: `Ok(detail)` verified, `Err(why)` not.
    async fn step<F>(&mut self, name: &'static str, via: String, f: F) -> bool
    where
        F: Future<Output = Result<String, String>>,
    {
        let t0 = Instant::now();
        let result = f.await;
        let ok = result.is_ok();
        let detail = result.unwrap_or_else(|e| e);
        let step = Step {
            name,
            via,
            ok,
            detail,
            elapsed: t0.elapsed(),
        };
        (self.on_step)(&step);
        self.steps.push(step);
        ok
    }
}

/// The CRUD demonstration. `nodes[0]` writes; the last node verifies (the
/// same node when there is only one). `tag` keeps this run's records apart
/// from any other's; they are deleted at the end.
pub async fn crud(
    nodes: &[Node],
    schema: &str,
    tag: &str,
    timeout: Duration,
    on_step: OnStep<'_>,
) -> Report {
    let mut report = Report::default();
    let writer = &nodes[0];
    let reader = nodes.last().expect("at least one node");
    if nodes.len() == 1 {
        report.notes.push(format!(
            "one SurrealDB node ({}): every read goes through the node that wrote, so replication \
             between nodes is not shown; the two-node cluster (compose/surrealdb-tikv.yml) shows it",
            writer.service
        ));
    }
    let config = blog_config(timeout);
    let mut run = Runner {
        steps: Vec::new(),
        on_step,
    };
    let (w, r) = match (
        session(&writer.address, &config).await,
        session(&reader.address, &config).await,
    ) {
        (Ok(w), Ok(r)) => (w, r),
        (Err(e), _) | (_, Err(e)) => {
            run.step("connect", writer.service.clone(), async {
                Err(e.to_string())
            })
            .await;
            report.steps = run.steps;
            return report;
        }
    };
    let (wv, rv) = (writer.service.clone(), reader.service.clone());
    let both = if nodes.len() == 1 {
        wv.clone()
    } else {
        format!("{wv} -> {rv}")
    };
    let id = |table: &str, name: &str| format!("{table}:⟨{tag}-{name}⟩");
    let users = [("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol")];
    let posts = [
        ("p1", "alice", "Hello, TiKV"),
        ("p2", "alice", "Raft in practice"),
        ("p3", "bob", "Linearizability, explained"),
        ("p4", "carol", "Chaos with a seed"),
    ];

    let ok = run
        .step("schema", both.clone(), async {
            q(&w, schema, vec![]).await?;
            let info = q(&r, "INFO FOR DB", vec![]).await?;
            let tables = info
                .first()
                .and_then(|i| i.get("tables"))
                .and_then(Value::as_object)
                .ok_or("INFO FOR DB has no tables")?;
            let missing: Vec<_> = ["user", "post", "wrote"]
                .into_iter()
                .filter(|t| !tables.contains_key(*t))
                .collect();
            if missing.is_empty() {
                Ok("schemas/blog.surql applied; tables user, post, wrote defined".to_string())
            } else {
                Err(format!(
                    "tables missing after applying the schema: {missing:?}"
                ))
            }
        })
        .await;
    if !ok {
        report.steps = run.steps;
        return report;
    }

    run.step("create", wv.clone(), async {
        let mut text = String::new();
        for (u, name) in users {
            text.push_str(&format!(
                "CREATE {} SET name = '{name}', email = '{u}.{tag}@example.org';\n",
                id("user", u)
            ));
        }
        for (p, author, title) in posts {
            text.push_str(&format!(
                "CREATE {} SET title = '{title}', body = 'Post {p} of demo {tag}', author = {}, tags = ['demo'];\n\
                 RELATE {}->wrote->{};\n",
                id("post", p),
                id("user", author),
                id("user", author),
                id("post", p)
            ));
        }
        let results = q(&w, &text, vec![]).await?;
        Ok(format!(
            "{} users, {} posts, {} `wrote` edges in {} statements",
            users.len(),
            posts.len(),
            posts.len(),
            results.len()
        ))
    })
    .await;

    run.step("read", rv.clone(), async {
        let got = q(
            &r,
            "SELECT title, author.name AS author FROM post WHERE string::starts_with(record::id(id), $tag) ORDER BY title;\n\
             SELECT VALUE ->wrote->post.title FROM ONLY type::record('user', $alice);",
            vec![
                ("tag", Value::String(tag.to_string())),
                ("alice", Value::String(format!("{tag}-alice"))),
            ],
        )
        .await?;
        let found = rows(&got[0]);
        if found.len() != posts.len() {
            return Err(format!(
                "expected {} posts, read {}: {found:?}",
                posts.len(),
                found.len()
            ));
        }
        for (_, author, title) in posts {
            let name = users.iter().find(|(u, _)| *u == author).map(|(_, n)| *n);
            let hit = found.iter().any(|row| {
                row.get("title").and_then(Value::as_str) == Some(title)
                    && row.get("author").and_then(Value::as_str) == name
            });
            if !hit {
                return Err(format!("post `{title}` by {author} not read back: {found:?}"));
            }
        }
        let alice_titles = rows(&got[1]);
        if alice_titles.len() != 2 {
            return Err(format!(
                "alice->wrote->post should give 2 titles, gave {alice_titles:?}"
            ));
        }
        Ok(format!(
            "{} posts with their authors (record links), alice->wrote->post = {} titles",
            found.len(),
            alice_titles.len()
        ))
    })
    .await;

    run.step("update", both.clone(), async {
        let title = format!("Raft in practice (edited, {tag})");
        q(
            &r,
            &format!(
                "UPDATE {} SET title = $title, updated_at = time::now() RETURN NONE",
                id("post", "p2")
            ),
            vec![("title", Value::String(title.clone()))],
        )
        .await?;
        let got = q(
            &w,
            &format!("SELECT VALUE title FROM {}", id("post", "p2")),
            vec![],
        )
        .await?;
        let seen = rows(&got[0]);
        if seen.first().and_then(Value::as_str) == Some(title.as_str()) {
            Ok(format!(
                "post p2 retitled through {rv}, read back through {wv}"
            ))
        } else {
            Err(format!("post p2 should read `{title}`, read {seen:?}"))
        }
    })
    .await;

    run.step("unique", wv.clone(), async {
        let duplicate = q(
            &w,
            &format!(
                "CREATE {} SET name = 'Mallory', email = 'alice.{tag}@example.org'",
                id("user", "mallory")
            ),
            vec![],
        )
        .await;
        match duplicate {
            Err(e) if e.contains("user_email") => {
                Ok(format!("a second user with alice's e-mail is refused: {e}"))
            }
            Err(e) => Err(format!(
                "the duplicate was refused, but not by the unique index `user_email`: {e}"
            )),
            Ok(v) => Err(format!(
                "the unique index on user.email accepted a duplicate: {v:?}"
            )),
        }
    })
    .await;

    run.step("delete", both.clone(), async {
        q(&w, &format!("DELETE {}", id("post", "p3")), vec![]).await?;
        let got = q(
            &r,
            &format!(
                "SELECT VALUE id FROM {p};\nSELECT VALUE id FROM wrote WHERE out = {p};",
                p = id("post", "p3")
            ),
            vec![],
        )
        .await?;
        let (post, edges) = (rows(&got[0]), rows(&got[1]));
        if post.is_empty() && edges.is_empty() {
            Ok(format!(
                "post p3 deleted through {wv}; through {rv} it is gone, and so is its `wrote` edge"
            ))
        } else {
            Err(format!(
                "after DELETE, {rv} still sees post {post:?} / edges {edges:?}"
            ))
        }
    })
    .await;

    run.step("cleanup", wv.clone(), async {
        let text = "DELETE wrote WHERE string::starts_with(record::id(out), $tag);\n\
                    DELETE post WHERE string::starts_with(record::id(id), $tag);\n\
                    DELETE user WHERE string::starts_with(record::id(id), $tag);\n\
                    SELECT VALUE id FROM post WHERE string::starts_with(record::id(id), $tag);\n\
                    SELECT VALUE id FROM user WHERE string::starts_with(record::id(id), $tag);";
        let got = q(&w, text, vec![("tag", Value::String(tag.to_string()))]).await?;
        let left = rows(&got[3]).len() + rows(&got[4]).len();
        if left == 0 {
            Ok("this demo's users, posts and edges removed".to_string())
        } else {
            Err(format!("{left} demo records left after cleanup"))
        }
    })
    .await;

    report.steps = run.steps;
    report
}

/// What the writers of the failover demonstration saw, per node.
#[derive(Debug, Clone, Default)]
pub struct WriterTally {
    pub service: String,
    /// Record ids whose CREATE was acknowledged.
    pub acked: Vec<String>,
    /// Acknowledged while the victim was down.
    pub acked_during_fault: u64,
    pub errors: u64,
}

/// Write `failover:⟨tag-service-n⟩` through `node` every `every` until
/// `stop` turns true; `down` tells whether the victim is down right now.
pub async fn write_loop(
    node: Node,
    tag: String,
    timeout: Duration,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    down: tokio::sync::watch::Receiver<bool>,
) -> WriterTally {
    let mut tally = WriterTally {
        service: node.service.clone(),
        ..WriterTally::default()
    };
    let config = blog_config(timeout.max(Duration::from_secs(5)));
    let Ok(db) = session(&node.address, &config).await else {
        tally.errors += 1;
        return tally;
    };
    let mut n = 0u64;
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return tally;
        }
        n += 1;
        let id = format!("{tag}-{}-{n}", node.service);
        let during = *down.borrow();
        let text = format!(
            "CREATE failover:⟨{id}⟩ SET n = {n}, via = '{}'",
            node.service
        );
        match tokio::time::timeout(timeout, q(&db, &text, vec![])).await {
            Ok(Ok(_)) => {
                tally.acked.push(id);
                if during && *down.borrow() {
                    tally.acked_during_fault += 1;
                }
            }
            _ => tally.errors += 1,
        }
    }
}

/// After the failover: every acknowledged write must be readable through
/// every node.
pub async fn verify_acked(
    nodes: &[Node],
    tag: &str,
    tallies: &[WriterTally],
    timeout: Duration,
    on_step: OnStep<'_>,
) -> Vec<Step> {
    let acked: Vec<&String> = tallies.iter().flat_map(|t| &t.acked).collect();
    let mut run = Runner {
        steps: Vec::new(),
        on_step,
    };
    for node in nodes {
        let config = blog_config(timeout.max(Duration::from_secs(5)));
        run.step("verify", node.service.clone(), async {
            let db = session(&node.address, &config)
                .await
                .map_err(|e| e.to_string())?;
            let got = q(
                &db,
                "SELECT VALUE record::id(id) FROM failover WHERE string::starts_with(record::id(id), $tag)",
                vec![("tag", Value::String(tag.to_string()))],
            )
            .await?;
            let seen: std::collections::BTreeSet<String> = rows(&got[0])
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            let lost: Vec<&&String> = acked.iter().filter(|id| !seen.contains(id.as_str())).collect();
            if lost.is_empty() {
                Ok(format!("all {} acknowledged writes readable", acked.len()))
            } else {
                Err(format!(
                    "{} of {} acknowledged writes missing, e.g. {:?}",
                    lost.len(),
                    acked.len(),
                    lost.iter().take(3).collect::<Vec<_>>()
                ))
            }
        })
        .await;
    }
    run.steps
}
