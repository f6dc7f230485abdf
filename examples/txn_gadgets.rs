//! A list-append history with one of each injected anomaly, in Elle's EDN,
//! to see the transaction checker explain them:
//!
//! ```sh
//! cargo run --example txn_gadgets > gadgets.edn
//! chaos check --format elle-edn gadgets.edn
//! ```

use chaos::txngen::{self, Gadget, TxnGenConfig};

fn main() {
    let lines = txngen::generate(&TxnGenConfig {
        seed: 1,
        txns: 50,
        gadgets: Gadget::ALL.to_vec(),
        ..TxnGenConfig::default()
    });
    print!("{}", txngen::edn_text(&lines));
}
