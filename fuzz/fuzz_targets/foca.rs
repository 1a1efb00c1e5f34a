//! A selector byte, a term byte, then a foca payload in an envelope the
//! node opens: answered within bounds.
//!
//! The properties are checked in `herd::core::fuzzing`; a violation panics
//! here, which libFuzzer reports as a crash.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = herd::core::fuzzing::foca(data) {
        panic!("{violation}");
    }
});
