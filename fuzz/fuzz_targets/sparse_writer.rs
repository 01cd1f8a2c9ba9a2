//! Any sequence of writes into the sparse object writer (uploads store all-zero
//! blocks as holes): the file read back must equal the bytes written, whatever the
//! write sizes and zero runs.
#![no_main]

use imgport_service::objects::sparse::SparseWriter;
use libfuzzer_sys::fuzz_target;
use std::io::{Read, Seek, SeekFrom, Write};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    // Expand: each input byte b ≥ 0xf0 stands for a run of (b - 0xef) KiB of zeros,
    // so inputs reach holes of several blocks.
    // The logical size is capped at 4 MiB so that each run stays fast.
    let mut logical = Vec::new();
    for &b in rest {
        if logical.len() >= 4 << 20 {
            break;
        }
        if b >= 0xf0 {
            logical.resize(logical.len() + (b as usize - 0xef) * 1024, 0);
        } else {
            logical.push(b);
        }
    }
    let file = tempfile::tempfile().expect("temp file");
    let mut w = SparseWriter::new(file);
    let step = 1 + (mode as usize) * 37;
    for piece in logical.chunks(step) {
        w.write_all(piece).expect("write");
    }
    let mut file = w.finish().expect("finish");
    assert_eq!(file.metadata().unwrap().len(), logical.len() as u64);
    file.seek(SeekFrom::Start(0)).unwrap();
    let mut back = Vec::new();
    file.read_to_end(&mut back).unwrap();
    assert!(back == logical, "sparse file differs from what was written");
});
