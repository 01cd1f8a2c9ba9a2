//! A target that finds nothing — unless `IMGPORT_FUZZ_PLANT` asks it to: `crash`
//! panics on every input, `leak` leaks memory on every input. It exists to prove that
//! `scripts/fuzz.sh` fails on a finding (`scripts/test-fuzz-guard.sh`, run by
//! `scripts/test.sh`); the smoke run of every target leaves it out.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match std::env::var("IMGPORT_FUZZ_PLANT").as_deref() {
        Ok("crash") => panic!("planted crash ({} input bytes)", data.len()),
        Ok("leak") => {
            // Nothing keeps a pointer to these: LeakSanitizer reports them. (black_box:
            // an unused allocation would otherwise be optimised away.)
            for _ in 0..4 {
                std::mem::forget(std::hint::black_box(vec![1u8; 4096 + data.len()]));
            }
        }
        _ => {}
    }
});
