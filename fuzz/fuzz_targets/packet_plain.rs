//! Raw bytes from a stranger into a joined node without keys: bytes
//! dropped at the envelope change nothing and are counted once, under
//! their reason; bytes that open are answered within bounds.
//!
//! The properties are checked in `herd::core::fuzzing`; a violation panics
//! here, which libFuzzer reports as a crash.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = herd::core::fuzzing::packet_plain(data) {
        panic!("{violation}");
    }
});
