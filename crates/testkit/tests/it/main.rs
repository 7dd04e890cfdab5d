//! The testkit's one integration-test binary.

mod postgres;
