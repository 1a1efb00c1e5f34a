//! A selector byte, a term byte, then a control payload in an envelope the
//! node opens (sealed with its key when it has one): answered within
//! bounds, counted as malformed when it does not decode.
//!
//! The properties are checked in `herd::core::fuzzing`; a violation panics
//! here, which libFuzzer reports as a crash.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = herd::core::fuzzing::control(data) {
        panic!("{violation}");
    }
});
