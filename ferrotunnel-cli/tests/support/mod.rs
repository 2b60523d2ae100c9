//! Support for the tests of the `ferrotunnel` binary, one module per job. Each test binary uses
//! part of it.
#![allow(dead_code, unreachable_pub)]

pub mod files;
pub mod process;
pub mod visitor;
