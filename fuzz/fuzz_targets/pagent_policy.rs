//! Policy Agent IPSec policy parser: never panics; a refused policy names at least one
//! problem, each on a line of the input; an accepted one has complete rules.
#![no_main]

use ike::policy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = u32::try_from(text.lines().count()).unwrap_or(u32::MAX);
    match policy::parse(&text) {
        Ok(policy) => {
            assert!(policy.filter_rules.iter().all(|r| !r.services.is_empty()));
            assert!(policy.key_exchange_rules.iter().all(|r| !r.action.offers.is_empty()));
        }
        Err(error) => {
            assert!(!error.problems.is_empty());
            assert!(error.problems.iter().all(|p| p.line <= lines));
        }
    }
});
