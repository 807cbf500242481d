//! Helpers shared by this crate's integration tests.
pub mod secret_forms;
pub mod world;
