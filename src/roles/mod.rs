//! Roles: who holds a role of a component right now (`leader` of `etcd`, of
//! `pd`, of `tikv`), as a compose service. The nemesis asks when a fault
//! that names a role strikes; nothing else about faults is known here.
//!
//! This module is the layer below both the clients and the nemesis: it owns
//! the [`RoleResolver`] trait and [`FixedRoles`] (fixed answers, for tests
//! and experiments without roles). The resolvers that speak a database's
//! protocol live where that protocol lives (`client::etcd::EtcdLeader`
//! through the member status, `client::pd::PdRoles` through PD's HTTP API)
//! and implement this trait; the run engine builds them and hands them to
//! the nemesis as `Arc<dyn RoleResolver>`. No IO, no clock, no runtime here.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

/// What a role resolver may fail with (any error; `anyhow::Error` converts).
pub type ResolveError = Box<dyn std::error::Error + Send + Sync>;

/// The future a resolver returns.
pub type ResolveFuture<'a> =
    Pin<Box<dyn Future<Output = Result<String, ResolveError>> + Send + 'a>>;

/// Turns a role of a component (`leader` of `etcd`) into the compose service
/// that holds it now. Called when the fault strikes.
pub trait RoleResolver: Send + Sync {
    fn resolve<'a>(&'a self, role: &'a str, component: &'a str) -> ResolveFuture<'a>;
}

/// A resolver with fixed answers that tests (and experiments without roles)
/// use; answers can be changed while it is shared.
#[derive(Debug, Default)]
pub struct FixedRoles {
    answers: Mutex<BTreeMap<(String, String), String>>,
}

impl FixedRoles {
    pub fn new() -> FixedRoles {
        FixedRoles::default()
    }

    /// Answer `service` for `role` of `component` from now on.
    pub fn set(&self, role: &str, component: &str, service: &str) {
        self.answers.lock().expect("roles lock").insert(
            (role.to_string(), component.to_string()),
            service.to_string(),
        );
    }
}

impl RoleResolver for FixedRoles {
    fn resolve<'a>(&'a self, role: &'a str, component: &'a str) -> ResolveFuture<'a> {
        let answer = self
            .answers
            .lock()
            .expect("roles lock")
            .get(&(role.to_string(), component.to_string()))
            .cloned();
        Box::pin(async move {
            answer.ok_or_else(|| format!("no {role} known for component `{component}`").into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Drive a resolver's future without a runtime: these resolvers never
    /// wait on IO.
    fn answer(r: &dyn RoleResolver, role: &str, component: &str) -> Result<String, String> {
        use std::task::{Context, Poll, Waker};
        let mut fut = r.resolve(role, component);
        match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(r) => r.map_err(|e| e.to_string()),
            Poll::Pending => panic!("a fixed answer is ready at once"),
        }
    }

    #[test]
    fn fixed_roles_answer_what_they_were_told() {
        let roles = FixedRoles::new();
        assert!(answer(&roles, "leader", "etcd").is_err());
        roles.set("leader", "etcd", "etcd2");
        assert_eq!(answer(&roles, "leader", "etcd").unwrap(), "etcd2");
        roles.set("leader", "etcd", "etcd3");
        let shared: Arc<dyn RoleResolver> = Arc::new(roles);
        assert_eq!(answer(shared.as_ref(), "leader", "etcd").unwrap(), "etcd3");
    }
}
