//! `hookline` as a library: [`dev::start`] runs every function in one process on the
//! embedded store, for `hookline dev` and for the end-to-end tests.

pub mod dev;
pub mod sign;
