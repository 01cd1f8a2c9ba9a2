//! A sparse 1 GiB device for filesystem fuzz targets: the input is a sequence of
//! records, a little-endian `u32` block index and 4096 bytes of block content;
//! every other block reads as zeros. Seeds are the metadata blocks a walk of a
//! real image reads (see `crates/inspect/tests/xfs_btrfs.rs`, `IMGPORT_FUZZ_SEEDS`),
//! so mutations land in real structures far apart on the device.

use imgport_disk::ReadAt;
use std::collections::BTreeMap;

pub const BLOCK: usize = 4096;
pub const SIZE: u64 = 1 << 30;

pub struct SparseDev {
    pub blocks: BTreeMap<u64, Vec<u8>>,
}

impl SparseDev {
    pub fn parse(mut data: &[u8]) -> Self {
        let mut blocks = BTreeMap::new();
        while data.len() >= 4 {
            let idx = u64::from(u32::from_le_bytes([data[0], data[1], data[2], data[3]]))
                % (SIZE / BLOCK as u64);
            let body = &data[4..];
            let n = body.len().min(BLOCK);
            let mut b = vec![0u8; BLOCK];
            b[..n].copy_from_slice(&body[..n]);
            blocks.insert(idx, b);
            data = &body[n..];
        }
        SparseDev { blocks }
    }
}

impl ReadAt for SparseDev {
    fn size(&self) -> u64 {
        SIZE
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> imgport_disk::Result<()> {
        if offset
            .checked_add(buf.len() as u64)
            .is_none_or(|e| e > SIZE)
        {
            return Err(imgport_disk::Error::OutOfBounds {
                what: "sparse".into(),
                offset,
                len: buf.len() as u64,
                size: SIZE,
            });
        }
        let mut done = 0;
        while done < buf.len() {
            let at = offset + done as u64;
            let (idx, within) = (at / BLOCK as u64, (at % BLOCK as u64) as usize);
            let n = (BLOCK - within).min(buf.len() - done);
            match self.blocks.get(&idx) {
                Some(b) => buf[done..done + n].copy_from_slice(&b[within..within + n]),
                None => buf[done..done + n].fill(0),
            }
            done += n;
        }
        Ok(())
    }
}

/// Walk the tree breadth-first (bounded), reading links and the first bytes of files.
#[allow(dead_code)] // used by the fs_* targets, not by fs_probe
pub fn walk(fs: &dyn imgport_inspect::fs::FileSystem) {
    use imgport_inspect::fs::FileType;
    use std::io::Read;
    let mut queue = vec!["/".to_string()];
    let mut seen = 0;
    while let Some(dir) = queue.pop() {
        let Ok(entries) = fs.read_dir(&dir) else {
            continue;
        };
        for e in entries {
            seen += 1;
            if seen > 300 {
                return;
            }
            let p = if dir == "/" {
                format!("/{}", e.name)
            } else {
                format!("{dir}/{}", e.name)
            };
            let _ = fs.metadata(&p);
            match e.file_type {
                FileType::Dir => queue.push(p),
                FileType::Symlink => {
                    let _ = fs.read_link(&p);
                }
                FileType::File => {
                    if let Ok(r) = fs.open_file(&p) {
                        let _ = r.take(256 << 10).read_to_end(&mut Vec::new());
                    }
                }
                FileType::Other => {}
            }
        }
    }
}
