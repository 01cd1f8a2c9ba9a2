//! An in-memory buffer as a [`ReadAt`] source (tests, fuzzing, small embedded images).

use super::{check_bounds, ReadAt};
use crate::Result;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes held in memory.
#[derive(Debug, Default)]
pub struct MemSource {
    data: Vec<u8>,
    read: AtomicU64,
}

impl MemSource {
    pub fn new(data: Vec<u8>) -> Self {
        MemSource {
            data,
            read: AtomicU64::new(0),
        }
    }
}

impl ReadAt for MemSource {
    fn size(&self) -> u64 {
        self.data.len() as u64
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        check_bounds(&|| self.describe(), offset, buf.len(), self.size())?;
        let start = offset as usize;
        buf.copy_from_slice(&self.data[start..start + buf.len()]);
        self.read.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    fn describe(&self) -> String {
        "memory buffer".to_string()
    }
}
