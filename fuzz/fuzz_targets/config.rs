//! Bytes as configuration text (lossily UTF-8) into the agent's parser and
//! `validate`: see `tests/support/config_check.rs` for the properties,
//! shared with `tests/hostile_input.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/config_check.rs"]
#[allow(dead_code)]
mod config_check;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(problem) = config_check::check_config(&text) {
        panic!("{problem}\n--- config ---\n{text}");
    }
});
