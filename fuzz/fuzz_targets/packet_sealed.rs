//! A joined node that requires encryption: the bytes raw, then as a
//! payload sealed with its key, sealed with another key, in plaintext, and
//! sealed with one bit flipped. Only the one sealed with the key opens.
//!
//! The properties are checked in `herd::core::fuzzing`; a violation panics
//! here, which libFuzzer reports as a crash.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = herd::core::fuzzing::packet_sealed(data) {
        panic!("{violation}");
    }
});
