//! The `surreal` binary of SurrealDB 3.3.5, built from the published
//! `surrealdb-server` library crate: the same `init` the upstream binary calls.
#![recursion_limit = "256"]

fn main() -> std::process::ExitCode {
    surrealdb_server::init(surrealdb_server::core::CommunityComposer())
}
