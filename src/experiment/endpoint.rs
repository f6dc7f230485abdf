//! A Swarm node's Docker endpoint (`[cluster.nodes] x = { docker = ... }`),
//! parsed: `unix:///path`, `tcp://host:port` (plain, or TLS with the node's
//! `tls_dir`) and `ssh://[user@]host[:port][/socket]` (with an optional
//! `ssh_config`).
//!
//! Pure: only the text. Connecting (bollard, the `ssh` tunnel, the
//! certificate files) is `crate::docker::swarm`'s; this module must not
//! depend on it.

/// The engine socket an `ssh://` endpoint forwards when its URL names none.
pub const DEFAULT_REMOTE_SOCKET: &str = "/var/run/docker.sock";

/// One engine endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A Unix socket on this machine.
    Unix { path: String },
    /// An engine's TCP port (`tls_dir` decides whether it is TLS).
    Tcp { host: String, port: u16 },
    /// An engine reached through `ssh`: chaos forwards the remote engine's
    /// Unix socket to a private local one for the length of its work.
    Ssh {
        user: Option<String>,
        host: String,
        port: Option<u16>,
        /// The engine's socket on the remote host.
        socket: String,
    },
}

impl Endpoint {
    /// Parse an endpoint URL; the error says what was expected.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("`{url}` contains a space or control character"));
        }
        if let Some(path) = url.strip_prefix("unix://") {
            if !path.starts_with('/') || path.len() < 2 {
                return Err(format!(
                    "`{url}`: expected an absolute socket path, `unix:///var/run/docker.sock`"
                ));
            }
            return Ok(Endpoint::Unix {
                path: path.to_string(),
            });
        }
        if let Some(rest) = url.strip_prefix("tcp://") {
            let rest = rest.strip_suffix('/').unwrap_or(rest);
            let (host, port) = split_host_port(rest)
                .filter(|(h, p)| !h.is_empty() && p.is_some())
                .ok_or_else(|| {
                    format!("`{url}`: expected `tcp://host:port`, e.g. `tcp://127.0.0.1:2376`")
                })?;
            return Ok(Endpoint::Tcp {
                host: host.to_string(),
                port: port.unwrap_or_default(),
            });
        }
        if let Some(rest) = url.strip_prefix("ssh://") {
            let expected = || {
                format!(
                    "`{url}`: expected `ssh://[user@]host[:port][/path/to/docker.sock]`, e.g. `ssh://root@10.0.0.2`"
                )
            };
            let (authority, socket) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            let (user, hostport) = match authority.rsplit_once('@') {
                Some((u, h)) if !u.is_empty() && !u.contains(['@', ':']) => (Some(u), h),
                Some(_) => return Err(expected()),
                None => (None, authority),
            };
            let (host, port) = split_host_port(hostport).ok_or_else(expected)?;
            if host.is_empty() || host.starts_with('-') {
                return Err(expected());
            }
            let socket = match socket {
                "" | "/" => DEFAULT_REMOTE_SOCKET.to_string(),
                s => s.to_string(),
            };
            return Ok(Endpoint::Ssh {
                user: user.map(str::to_string),
                host: host.to_string(),
                port,
                socket,
            });
        }
        Err(format!(
            "`{url}` is not a Docker endpoint; expected `unix:///path`, `tcp://host:port` (with `tls_dir` for TLS) or `ssh://[user@]host[:port]`"
        ))
    }

    pub fn scheme(&self) -> &'static str {
        match self {
            Endpoint::Unix { .. } => "unix",
            Endpoint::Tcp { .. } => "tcp",
            Endpoint::Ssh { .. } => "ssh",
        }
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; `None` for a bad port.
fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            p => Some((host, Some(p.strip_prefix(':')?.parse().ok()?))),
        };
    }
    match s.rsplit_once(':') {
        None => Some((s, None)),
        Some((h, p)) if !h.contains(':') => Some((h, Some(p.parse().ok()?))),
        Some(_) => None,
    }
}

/// A path option of a node (`tls_dir`, `ssh_config`): absolute or under
/// `~/`, since a run keeps a copy of its experiment that must load from
/// anywhere. `None` when it is fine.
pub fn path_problem(path: &str) -> Option<String> {
    if path.starts_with('/') || (path.starts_with("~/") && path.len() > 2) {
        None
    } else {
        Some(format!(
            "`{path}` is not an absolute path; expected `/...` or `~/...` (a run keeps a copy of the experiment that must work from any directory)"
        ))
    }
}

/// `~/x` with `home`, anything else as it is.
pub fn expand_home(path: &str, home: Option<&str>) -> String {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => format!("{}/{rest}", home.trim_end_matches('/')),
        _ => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scheme_parses_with_its_parts() {
        assert_eq!(
            Endpoint::parse("unix:///run/n2.sock"),
            Ok(Endpoint::Unix {
                path: "/run/n2.sock".into()
            })
        );
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:23871"),
            Ok(Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 23871
            })
        );
        assert_eq!(
            Endpoint::parse("tcp://[::1]:2376/"),
            Ok(Endpoint::Tcp {
                host: "::1".into(),
                port: 2376
            })
        );
        assert_eq!(
            Endpoint::parse("ssh://root@127.0.0.1:23882"),
            Ok(Endpoint::Ssh {
                user: Some("root".into()),
                host: "127.0.0.1".into(),
                port: Some(23882),
                socket: DEFAULT_REMOTE_SOCKET.into()
            })
        );
        assert_eq!(
            Endpoint::parse("ssh://node2/run/user/1000/docker.sock"),
            Ok(Endpoint::Ssh {
                user: None,
                host: "node2".into(),
                port: None,
                socket: "/run/user/1000/docker.sock".into()
            })
        );
    }

    #[test]
    fn bad_endpoints_say_what_was_expected() {
        for (url, expect) in [
            ("http://x:1", "not a Docker endpoint"),
            ("tcp://host", "tcp://host:port"),
            ("tcp://:2375", "tcp://host:port"),
            ("tcp://h:99999", "tcp://host:port"),
            ("unix://run/x.sock", "absolute socket path"),
            ("ssh://", "ssh://[user@]host"),
            ("ssh://@h", "ssh://[user@]host"),
            ("ssh://-oProxyCommand=x", "ssh://[user@]host"),
            ("ssh://u@h:port", "ssh://[user@]host"),
            ("ssh://u@h x", "space"),
        ] {
            let e = Endpoint::parse(url).unwrap_err();
            assert!(e.contains(expect), "{url}: {e}");
        }
    }

    #[test]
    fn node_paths_are_absolute_or_under_home() {
        assert_eq!(path_problem("/etc/docker/certs"), None);
        assert_eq!(path_problem("~/.docker"), None);
        assert!(path_problem("certs").unwrap().contains("absolute"));
        assert!(path_problem("~/").is_some());
        assert_eq!(
            expand_home("~/.docker", Some("/home/u/")),
            "/home/u/.docker"
        );
        assert_eq!(expand_home("/x", Some("/home/u")), "/x");
        assert_eq!(expand_home("~/x", None), "~/x");
    }
}
