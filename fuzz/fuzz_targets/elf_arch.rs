//! Any bytes as an ELF header prefix.
#![no_main]

use imgport_inspect::linux::elf::elf_arch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = elf_arch(data) {
        assert!(a.bits() == 32 || a.bits() == 64);
    }
});
