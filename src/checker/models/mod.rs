//! The models the checker knows: [`register`] (read/write, and the CAS
//! register with read/write/cas) and [`kv`] (a map of strings with
//! get/put/append). Each lives in its own file and implements
//! [`super::model::Model`]; nothing here knows about the search.

pub mod kv;
pub mod register;
