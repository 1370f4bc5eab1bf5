//! Shared helpers for integration tests. Each test binary includes this with
//! `mod support;` and uses only what it needs.
#![allow(dead_code)]

pub mod aptrepo;
pub mod fleet;
pub mod http;
pub mod policy;
pub mod rpmrepo;
