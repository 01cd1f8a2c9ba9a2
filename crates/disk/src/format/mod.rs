//! Readers for the importable formats (R-FMT). Each presents a [`crate::VirtualDisk`].

pub mod qcow2;
pub mod raw;
pub mod vhd;
pub mod vmdk;
