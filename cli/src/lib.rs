//! `hookline` as a library: [`dev::start`] runs every function in one process on the
//! embedded store, for `hookline dev` and for the end-to-end tests.

pub mod dev;
mod serve;
pub mod sign;

/// `hookline dev` runs the store on its own thread beside the runtime's workers, and
/// memory allocated on one is freed on another; glibc's allocator serialises much of
/// that, mimalloc does not (end-to-end load: about 45% more deliveries per second).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
