//! An error in words with its causes: `a: b: c`, each cause once.
//!
//! Pure core: text from `std::error::Error` values, nothing else. Used
//! where a message must say why something failed although the top error's
//! own text does not (a client's transport error, an engine that cannot be
//! reached: bollard says "client error (Connect)" and the reason, such as
//! a certificate its CA did not sign, is a cause further down).

/// `e` and each of its sources, joined by `: `; a cause whose text the
/// message already holds (a wrapper that prints its source) is not
/// repeated.
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn an_error_says_its_causes_each_once() {
        let e = E(
            "client error (Connect)",
            Some(Box::new(E(
                "invalid peer certificate: UnknownIssuer",
                Some(Box::new(E("UnknownIssuer", None))),
            ))),
        );
        assert_eq!(
            with_causes(&e),
            "client error (Connect): invalid peer certificate: UnknownIssuer"
        );
        assert_eq!(with_causes(&E("alone", None)), "alone");
    }
}
